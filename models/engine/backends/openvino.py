"""An optional OpenVINO CPU backend for the engine's full frames (``--backend openvino``).

The generator (fp32 weights, plain ``nn.InstanceNorm2d``: a copy taken before the engine swaps norms,
installs one-hot lookups and casts) is exported to ONNX for one input size, converted to OpenVINO IR
and saved under ``<cache>/ir/<key>.xml`` where the key hashes the weights and the input shape, so a
later run (or engine) reuses it without converting again. Compiling for the CPU asks for
``INFERENCE_PRECISION_HINT`` bf16 (fp32 engines: f32); OpenVINO's own model cache (``<cache>/blobs``)
keeps the compiled blob, keyed by OpenVINO on the model, device and that hint.

With ``lookup`` (the default), the input convolutions run in torch as exact one-hot lookups
(:mod:`stems <p2phd.models.engine.backends.stems>`) and OpenVINO compiles only the rest of the network,
whose inputs are the stems' outputs: 25% fewer MACs for label2city_1024p (issue 11).

For a local enhancer the exported graph also returns what stroke previews replay: the coarse features
the last enhancer adds and the mean / biased variance of each of that enhancer's instance norms (in
``modules()`` order, the order of :func:`p2phd.models.engine.norm.norms_in`).

Converting runs at most once per model, size and variant: under a lock in this process and a file lock
(``<key>.lock``) across processes, so an editor preparing it in the background and a command line run
never convert the same model twice. Given the model's config, it runs in a child process (niced when
prepared in the background): torch's ONNX export and OpenVINO's ``convert_model`` hold the GIL for up
to ~300 ms at a time, which froze the editor's UI thread while a background thread converted.

``openvino`` is imported only when the backend is built: ``pip install 'p2phd[openvino]'``.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from p2phd.models.engine.backends.onnx_export import export_onnx
from p2phd.models.engine.backends.stems import Stems, Tail, stem_slots
from p2phd.models.errors import P2PHDError
from torch import nn

INSTALL_HINT = "--backend openvino needs OpenVINO: pip install 'p2phd[openvino]' (or pip install openvino)"
OV_HINTS = ("bf16", "f32")  # OpenVINO INFERENCE_PRECISION_HINT values
BACKGROUND_NICE = 10  # the conversion child's niceness when prepared in the background (the editor)


class OpenVinoUnavailableError(P2PHDError):
    """OpenVINO is not installed (a one-line message for the CLI)."""


def require_openvino():
    """The ``openvino`` module, or :class:`OpenVinoUnavailableError` with the install hint."""
    try:
        import openvino
    except ImportError:
        raise OpenVinoUnavailableError(INSTALL_HINT) from None
    return openvino


def weights_hash(module: nn.Module) -> str:
    """sha256 over the state dict: names, dtypes, shapes and bytes."""
    digest = hashlib.sha256()
    for name, tensor in module.state_dict().items():
        t = tensor.detach().cpu().contiguous()
        digest.update(f"{name}:{t.dtype}:{tuple(t.shape)};".encode())
        # the tensor's own memory, no tobytes() copy: hashlib releases the GIL on large buffers, a copy
        # held it (~0.8 s for label2city_1024p, in 10-20 ms stretches that stalled the editor's UI)
        digest.update(t.reshape(-1).view(torch.uint8).numpy() if t.numel() else b"")
    return digest.hexdigest()


class _StatsNorm(nn.Module):
    """Instance norm (exported as InstanceNormalization) that also hands its statistics to ``sink``."""

    def __init__(self, norm: nn.InstanceNorm2d, sink: list):
        super().__init__()
        self.eps, self.sink = norm.eps, sink

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = x.mean(dim=(2, 3))[0]
        var = (x - mean[None, :, None, None]).pow(2).mean(dim=(2, 3))[0]
        self.sink.append(mean)
        self.sink.append(var)
        return F.instance_norm(x, eps=self.eps)


class _ExportGraph(nn.Module):
    """G(x) (``lookup``: the tail after the stems, fed the stems' outputs); for a local enhancer also the
    coarse features and the last enhancer's norm statistics."""

    def __init__(self, G: nn.Module, lookup: bool):
        super().__init__()
        self.G = G
        self.local = hasattr(G, "n_local_enhancers")
        self.tail = Tail(G) if lookup else None
        self._stats: list = []
        if self.local:
            down, up = G.enhancer(G.n_local_enhancers)
            for part in (down, up):
                _swap_norms(part, self._stats)

    def forward(self, *inputs: torch.Tensor):
        self._stats.clear()
        if self.tail is not None:
            out, coarse = self.tail(*inputs)
        elif self.local:
            out, coarse = self.G.forward_with_coarse(inputs[0])
        else:
            out, coarse = self.G(inputs[0]), None
        return (out,) if coarse is None else (out, coarse, *self._stats)


def _swap_norms(module: nn.Module, sink: list) -> None:
    for name, child in list(module.named_children()):
        if isinstance(child, nn.InstanceNorm2d):
            setattr(module, name, _StatsNorm(child, sink))
        else:
            _swap_norms(child, sink)


def convert(
    G: nn.Module, shape: tuple[int, ...], xml_path: Path, lookup: bool = False, config=None, nice: int = 0
) -> None:
    """Export ``G`` for an input of ``shape`` (ONNX, then OpenVINO IR with fp32 weights) to ``xml_path``;
    ``lookup``: the graph after the stems, whose inputs are the stems' outputs for that input shape.

    With ``config`` (G's :class:`~p2phd.models.config.ModelConfig`) the work runs in a child process at
    niceness ``nice``, so that no thread of this process holds the GIL or the cores for long: measured
    on the demo model with the editor converting on a background thread, the UI thread stalled
    150-300 ms at a time in ``convert_model`` and 30-95 ms in the export; with a child at niceness 10
    the longest gap was 9-15 ms."""
    if config is not None:
        _convert_in_child(G, config, shape, xml_path, lookup, nice)
        return
    ov = require_openvino()
    graph = _ExportGraph(copy.deepcopy(G), lookup).eval()
    with torch.no_grad():  # a blank map: one key, so the stems cost nothing here
        example = tuple(Stems(G)(torch.zeros(shape))) if lookup else (torch.zeros(shape),)
    xml_path.parent.mkdir(parents=True, exist_ok=True)
    onnx_path = xml_path.with_suffix(f".{os.getpid()}.onnx")
    try:
        export_onnx(graph, example, onnx_path)
        model = ov.convert_model(str(onnx_path))
        tmp = xml_path.with_suffix(f".{os.getpid()}.tmp.xml")
        ov.save_model(model, str(tmp), compress_to_fp16=False)
        os.replace(tmp.with_suffix(".bin"), xml_path.with_suffix(".bin"))
        os.replace(tmp, xml_path)  # the .xml last: its presence means the pair is complete
    finally:
        onnx_path.unlink(missing_ok=True)


def _convert_in_child(G: nn.Module, config, shape, xml_path: Path, lookup: bool, nice: int) -> None:
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
        (Path(tmp) / "job.json").write_text(json.dumps({**job, "lookup": bool(lookup)}))
        code = (
            "import os, sys\n"
            "if hasattr(os, 'nice') and int(sys.argv[1]): os.nice(int(sys.argv[1]))\n"  # before any worker thread
            "from p2phd.models.engine.backends.openvino import _convert_job, _exit_with_parent\n"
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
        convert(G.float().eval(), tuple(job["shape"]), Path(job["xml"]), job["lookup"])
    finally:
        shutil.rmtree(job_dir, ignore_errors=True)  # the parent may be gone: nobody else would


@contextmanager
def _file_lock(path: Path):
    """An exclusive lock on ``path`` across processes (no-op where ``fcntl`` is missing: Windows)."""
    try:
        import fcntl
    except ImportError:
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class OpenVinoGenerator:
    """The generator compiled by OpenVINO for the CPU, one compiled model per input shape.

    ``G``: the fp32 generator with NVIDIA's plain instance norms (not modified; the caller may drop its
    other references). ``precision``: ``bf16`` (used only where the compiled model reports it) or
    ``f32``. ``lookup``: the input convolutions as one-hot lookups in torch, OpenVINO the rest.
    Call with the encoded network input (N=1); returns ``(out, coarse, stats)`` as fp32 torch tensors
    (``coarse`` and ``stats`` None for a global generator). :meth:`prepare` may run on another thread
    than the calls (the editor prepares in the background); :meth:`ready` tells whether a call for a
    shape would convert or compile first."""

    def __init__(self, G: nn.Module, precision: str, cache_dir: Path, lookup: bool = True, config=None):
        if precision not in OV_HINTS:
            raise ValueError(f"OpenVINO precision must be one of {OV_HINTS}, not {precision!r}")
        ov = require_openvino()
        self.G = G.float().eval()
        self.requested = precision
        self.lookup = lookup
        self.config = config  # G's ModelConfig: converting runs in a child process (see convert)
        self.stems = Stems(self.G, reuse_buffers=True).eval() if lookup else None  # calls hold _call_lock
        self.input_nc = stem_slots(self.G)[0][1].in_channels
        self.cache_dir = Path(cache_dir)
        self.local = hasattr(G, "n_local_enhancers")
        self._weights = weights_hash(self.G)
        self._core = ov.Core()
        self._core.set_property({"CACHE_DIR": str(self.cache_dir / "blobs")})
        self._compiled: dict[tuple[int, ...], object] = {}
        self._lock = threading.Lock()
        self._call_lock = threading.Lock()  # one frame at a time: the stems' buffers are reused
        self.precision_used: str | None = None  # what the last compiled model reports
        self.converted = 0  # conversions done by this object (the cache's misses)
        self.prepare_seconds: dict[tuple[int, ...], float] = {}  # convert (if needed) + compile, per shape
        self.last_timings: dict[str, float] = {}

    @property
    def name(self) -> str:
        """What renders, for status bars and benchmarks: e.g. ``openvino f32 + lookup``."""
        return f"openvino {self.precision_used or self.requested}" + (" + lookup" if self.lookup else "")

    def ir_path(self, shape: tuple[int, ...]) -> Path:
        variant = "fp32-ir-lookup" if self.lookup else "fp32-ir"
        key = hashlib.sha256(f"{self._weights}|{'x'.join(map(str, shape))}|{variant}".encode()).hexdigest()[:32]
        return self.cache_dir / "ir" / f"{key}.xml"

    def ready(self, shape: tuple[int, ...]) -> bool:
        return tuple(int(s) for s in shape) in self._compiled

    def prepare(self, shape: tuple[int, ...], background: bool = False):
        """Convert (unless cached on disk) and compile for ``shape``; returns the compiled model.
        ``background``: converting yields the CPU to the rest of the machine (the editor's UI)."""
        shape = tuple(int(s) for s in shape)
        with self._lock:
            if shape in self._compiled:
                return self._compiled[shape]
            t0 = time.perf_counter()
            xml = self.ir_path(shape)
            with _file_lock(xml.with_suffix(".lock")):
                if not xml.exists():
                    convert(self.G, shape, xml, self.lookup, self.config, BACKGROUND_NICE if background else 0)
                    self.converted += 1
            config = {"INFERENCE_PRECISION_HINT": self.requested, "PERFORMANCE_HINT": "LATENCY"}
            # from the path, not read_model(): the C++ side then reads and compiles without taking the GIL
            # (read_model + compile held it for 23-29 ms at a time, stalling the editor's UI thread)
            compiled = self._core.compile_model(str(xml), "CPU", config)
            used = compiled.get_property("INFERENCE_PRECISION_HINT")  # an ov.Type: bf16 only where the CPU has it
            self.precision_used = used.get_type_name() if hasattr(used, "get_type_name") else str(used)
            self._compiled = {shape: compiled}  # one size at a time: compiled models hold the weights
            self.prepare_seconds[shape] = time.perf_counter() - t0
            return compiled

    def __call__(self, x: torch.Tensor):
        if x.shape[0] != 1:
            raise ValueError("the OpenVINO backend renders one frame at a time")
        compiled = self.prepare(tuple(x.shape))
        with self._call_lock:
            return self._call(compiled, x)

    def _call(self, compiled, x: torch.Tensor):
        t0 = time.perf_counter()
        if self.stems is not None:
            with torch.inference_mode():
                inputs = [t.contiguous().numpy() for t in self.stems(x.detach().cpu())]
        else:
            inputs = [np.ascontiguousarray(x.detach().float().cpu().numpy())]
        t1 = time.perf_counter()
        request = compiled.create_infer_request()
        # No numpy copies: inputs are shared with OpenVINO and outputs cloned by torch, which releases the
        # GIL (np.array of the 268 MB coarse features held it long enough to stall the editor's UI).
        request.infer(dict(enumerate(inputs)), share_inputs=True)
        outs = [torch.from_numpy(request.get_output_tensor(i).data).clone() for i in range(len(compiled.outputs))]
        self.last_timings = {"stems": t1 - t0, "openvino": time.perf_counter() - t1}
        if not self.local:
            return outs[0], None, None
        stats = [(outs[i], outs[i + 1]) for i in range(2, len(outs), 2)]
        return outs[0], outs[1], stats
