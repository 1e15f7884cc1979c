"""Converting a generator to OpenVINO IR for one input size (ONNX export, then ``convert_model``), in a
child process when the caller gives the model's config.

The exported graph (:class:`_ExportGraph`) is G, or with ``lookup`` the tail after the stems
(:mod:`stems <p2phd.models.engine.backends.stems>`); for a local enhancer it also returns the coarse
features and the last enhancer's instance-norm statistics that stroke previews replay.

Why a child: torch's ONNX export and OpenVINO's ``convert_model`` hold the GIL for up to ~300 ms at a
time, which froze the editor's UI thread while a background thread converted. The child is niced when
the editor prepares in the background, and it ends with its parent (:func:`_exit_with_parent`).
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from p2phd.models.engine.backends.onnx_export import export_onnx
from p2phd.models.engine.backends.phase_conv import split_output_convs
from p2phd.models.engine.backends.stems import Stems, Tail
from p2phd.models.engine.backends.subpixel_deconv import replace_deconvs
from torch import nn

BACKGROUND_NICE = 10  # the conversion child's niceness when prepared in the background (the editor)


class _StatsNorm(nn.Module):
    """Instance norm (exported as InstanceNormalization) that also hands its statistics to ``sink``.

    In a bf16 graph :func:`convert` makes these outputs bf16 (:func:`_with_io_types`), so OpenVINO computes
    them from its bf16 activations (see there)."""

    def __init__(self, norm: nn.InstanceNorm2d, sink: list):
        super().__init__()
        self.eps, self.sink = norm.eps, sink

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = x.mean(dim=(2, 3), keepdim=True)
        var = (x - mean).square().mean(dim=(2, 3))
        self.sink.append(mean[0, :, 0, 0])
        self.sink.append(var[0])
        return F.instance_norm(x, eps=self.eps)


class _ExportGraph(nn.Module):
    """G(x) (``lookup``: the tail after the stems, fed the stems' outputs); for a local enhancer also the
    coarse features and the last enhancer's norm statistics (with ``lookup`` all but its stem's, which the
    stems compute)."""

    def __init__(self, G: nn.Module, lookup: bool, bf16: bool = False):
        super().__init__()
        self.G = G
        self.local = hasattr(G, "n_local_enhancers")
        self.tail = Tail(G) if lookup else None
        self._stats: list = []
        if self.local:
            down, up = G.enhancer(G.n_local_enhancers)
            for part in (down, up):
                _swap_norms(part, self._stats)
        split_output_convs(G.enhancer(G.n_local_enhancers)[1] if self.local else G.model)  # the RGB output conv
        if bf16:  # transposed convs as phase convs: OpenVINO then runs them in bf16 (in fp32 it runs its own
            replace_deconvs(G)  # transposed conv at its ordinary rate)

    def forward(self, *inputs: torch.Tensor):
        self._stats.clear()
        if self.tail is not None:
            out, coarse = self.tail(*inputs)
        elif self.local:
            out, coarse = self.G.forward_with_coarse(inputs[0])
        else:
            out, coarse = self.G(inputs[0]), None
        if coarse is None:
            return (out,)
        # the coarse features leave in NHWC, the layout OpenVINO computes them in: returned as NCHW they
        # cost a 268 MB transposing reorder (0.14 s of label2city_1024p's frame at 2048x1024)
        return (out, coarse.permute(0, 2, 3, 1), *self._stats)


def _swap_norms(module: nn.Module, sink: list) -> None:
    for name, child in list(module.named_children()):
        if isinstance(child, nn.InstanceNorm2d):
            setattr(module, name, _StatsNorm(child, sink))
        else:
            _swap_norms(child, sink)


def _with_io_types(model, lookup: bool, bf16: bool):
    """``model`` (an ``ov.Model`` of :class:`_ExportGraph`) taking the stems' outputs as they come (NHWC, in
    the graph's precision) and, in a bf16 graph, giving every output but the image in bf16.

    The inputs: NCHW fp32 ones cost a transposing, converting reorder each (0.05 s of label2city_1024p's
    2048x1024 frame on the bf16 Zen 4 machine); declared NHWC, OpenVINO's transpose back to the graph's
    NCHW vanishes into the layout its convolutions use. The outputs: OpenVINO's CPU plugin keeps in fp32
    whatever lies between an fp32 output and the convolutions before it, for accuracy; so the coarse
    features' last depth-to-space and every statistic (with the element-wise work and the reorders around
    them, and the convolutions feeding them writing fp32) ran in fp32: 0.2 s of that frame. Declared bf16,
    they stay in bf16 (the statistics are still reduced with fp32 sums, then rounded: 0.2% at most, well
    inside the activations' own bf16 rounding), and the coarse features come over at half the bytes."""
    import openvino as ov

    ppp = ov.preprocess.PrePostProcessor(model)
    if lookup:
        for index in range(len(model.inputs)):
            ppp.input(index).tensor().set_element_type(ov.Type.bf16 if bf16 else ov.Type.f32)
            ppp.input(index).tensor().set_layout(ov.Layout("NHWC"))
            ppp.input(index).model().set_layout(ov.Layout("NCHW"))
    if bf16:
        for index in range(1, len(model.outputs)):
            ppp.output(index).tensor().set_element_type(ov.Type.bf16)
    return ppp.build()


def convert(
    G: nn.Module,
    shape: tuple[int, ...],
    xml_path: Path,
    lookup: bool = False,
    config=None,
    nice: int = 0,
    bf16: bool = False,
) -> None:
    """Export ``G`` for an input of ``shape`` (ONNX, then OpenVINO IR with fp32 weights) to ``xml_path``;
    ``lookup``: the graph after the stems, whose inputs are the stems' outputs for that input shape;
    ``bf16``: the graph for a bf16 hint (transposed convs as sub-pixel convs, ``subpixel_deconv.py``; a local
    enhancer's coarse features and norm statistics as bf16 outputs; the stems' outputs, with ``lookup``, as
    bf16 inputs: :func:`_with_io_types`).

    With ``config`` (G's :class:`~p2phd.models.config.ModelConfig`) the work runs in a child process at
    niceness ``nice``, so that no thread of this process holds the GIL or the cores for long: measured
    on the demo model with the editor converting on a background thread, the UI thread stalled
    150-300 ms at a time in ``convert_model`` and 30-95 ms in the export; with a child at niceness 10
    the longest gap was 9-15 ms."""
    if config is not None:
        _convert_in_child(G, config, shape, xml_path, lookup, nice, bf16)
        return
    from p2phd.models.engine.backends.openvino import require_openvino  # not at import: a cycle

    ov = require_openvino()
    graph = _ExportGraph(copy.deepcopy(G), lookup, bf16).eval()
    with torch.no_grad():  # a blank map: one key, so the stems cost nothing here
        example = tuple(Stems(G)(torch.zeros(shape))[0]) if lookup else (torch.zeros(shape),)
    xml_path.parent.mkdir(parents=True, exist_ok=True)
    onnx_path = xml_path.with_suffix(f".{os.getpid()}.onnx")
    try:
        export_onnx(graph, example, onnx_path)
        model = ov.convert_model(str(onnx_path))
        model = _with_io_types(model, lookup, bf16)
        tmp = xml_path.with_suffix(f".{os.getpid()}.tmp.xml")
        ov.save_model(model, str(tmp), compress_to_fp16=False)
        os.replace(tmp.with_suffix(".bin"), xml_path.with_suffix(".bin"))
        os.replace(tmp, xml_path)  # the .xml last: its presence means the pair is complete
    finally:
        onnx_path.unlink(missing_ok=True)


def _convert_in_child(G: nn.Module, config, shape, xml_path: Path, lookup: bool, nice: int, bf16: bool = False) -> None:
    """:func:`convert` in ``python -c`` at niceness ``nice``: G's weights go through a raw file (numpy's
    ``tofile`` releases the GIL while writing), its architecture through ``config``."""
    xml_path.parent.mkdir(parents=True, exist_ok=True)
    # the child removes the job itself when done or when this process dies first (see _exit_with_parent)
    with tempfile.TemporaryDirectory(prefix=".convert-", dir=xml_path.parent, ignore_cleanup_errors=True) as tmp:
        tensors = []
        with open(Path(tmp) / "G.bin", "wb") as handle:
            for name, tensor in G.state_dict().items():
                array = tensor.detach().float().cpu().contiguous().numpy()
                tensors.append({"name": name, "shape": list(array.shape)})
                array.tofile(handle)
        job = {"config": config.to_dict(), "tensors": tensors, "shape": list(shape), "xml": str(xml_path)}
        (Path(tmp) / "job.json").write_text(json.dumps({**job, "lookup": bool(lookup), "bf16": bool(bf16)}))
        code = (
            "import os, sys\n"
            "if hasattr(os, 'nice') and int(sys.argv[1]): os.nice(int(sys.argv[1]))\n"  # before any worker thread
            "from p2phd.models.engine.backends.openvino_convert import _convert_job, _exit_with_parent\n"
            "_exit_with_parent(sys.argv[2])\n"
            "_convert_job(sys.argv[2])\n"
        )
        # stdin stays open and unused: the child's watchdog sees EOF when this process ends (closed, crashed
        # or killed), so a conversion never outlives the editor that asked for it
        child = subprocess.Popen(
            [sys.executable, "-c", code, str(int(nice)), tmp],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            stderr = child.stderr.read()
            returncode = child.wait()
        finally:
            child.stdin.close()
            child.stderr.close()
    if returncode != 0:
        lines = [line.strip() for line in stderr.splitlines() if line.strip()]
        raise RuntimeError(f"converting to OpenVINO failed: {lines[-1] if lines else f'exit {returncode}'}")


def _exit_with_parent(job_dir: str) -> None:
    """In the conversion child: a daemon thread that waits for EOF on stdin (the parent keeps the pipe
    open until the child is done), then removes the job's files and this child's partial outputs and
    exits at once. Without it a conversion went on for a minute after the editor closed."""

    def watch() -> None:
        while os.read(0, 1024):  # b'' only at EOF: the parent is gone. (Not sys.stdin: a daemon thread
            pass  # blocked in its buffered reader makes the interpreter's shutdown abort.)
        job = Path(job_dir)
        try:
            xml = Path(json.loads((job / "job.json").read_text())["xml"])
            for partial in (f".{os.getpid()}.onnx", f".{os.getpid()}.tmp.xml", f".{os.getpid()}.tmp.bin"):
                xml.with_suffix(partial).unlink(missing_ok=True)
        except (OSError, ValueError, KeyError):
            pass
        shutil.rmtree(job, ignore_errors=True)
        os._exit(3)

    threading.Thread(target=watch, name="p2phd-convert-watchdog", daemon=True).start()


def _convert_job(job_dir: str) -> None:
    """The child's side of :func:`_convert_in_child`: rebuild G from the job and :func:`convert` it here."""
    from p2phd.models.config import ModelConfig

    job = json.loads((Path(job_dir) / "job.json").read_text())
    G = ModelConfig.from_dict(job["config"]).build_G()
    raw = np.fromfile(Path(job_dir) / "G.bin", dtype=np.float32)
    state, offset = {}, 0
    for entry in job["tensors"]:
        count = int(np.prod(entry["shape"], dtype=np.int64))
        state[entry["name"]] = torch.from_numpy(raw[offset : offset + count].reshape(entry["shape"]))
        offset += count
    if offset != raw.size:
        raise ValueError(f"weights file holds {raw.size} values, the job names {offset}")
    G.load_state_dict(state, strict=True)
    del raw, state
    try:
        convert(G.float().eval(), tuple(job["shape"]), Path(job["xml"]), job["lookup"], bf16=job["bf16"])
    finally:
        shutil.rmtree(job_dir, ignore_errors=True)  # the parent may be gone: nobody else would
