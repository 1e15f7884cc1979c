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
never convert the same model twice; :mod:`openvino_convert <p2phd.models.engine.backends.openvino_convert>`
does the conversion, in a child process (niced when prepared in the background).

``openvino`` is imported only when the backend is built: ``pip install 'p2phd[openvino]'``.
"""

from __future__ import annotations

import hashlib
import locale
import sys
import threading
import time
from contextlib import contextmanager, suppress
from pathlib import Path

import numpy as np
import torch
from p2phd.models.engine.backends.cache_limit import mark_used, prune
from p2phd.models.engine.backends.openvino_convert import BACKGROUND_NICE, convert
from p2phd.models.engine.backends.stems import Stems, stem_slots
from p2phd.models.engine.cancel import ShouldCancel, never
from p2phd.models.engine.request import RunCancelledError
from p2phd.models.errors import P2PHDError
from torch import nn

INSTALL_HINT = "--backend openvino needs OpenVINO: pip install 'p2phd[openvino]' (or pip install openvino)"
OV_HINTS = ("bf16", "f32")  # OpenVINO INFERENCE_PRECISION_HINT values
POLL_MS = 50  # how often a running inference looks at should_cancel()


# OpenVINO's model cache switches the process to the C locale while it writes or reads a blob and then
# switches back; two compiles at once (two engines preparing, as in the editor and the tests) could leave
# the process in the C locale, after which Python's open() reads text as ASCII (torch.compile then failed
# on its own UTF-8 templates). Compiles take turns, and the locale they found is put back.
_COMPILE_LOCK = threading.Lock()


def compile_keeping_locale(core, xml: Path, config: dict):
    with _COMPILE_LOCK:
        before = locale.setlocale(locale.LC_CTYPE)
        try:
            return core.compile_model(str(xml), "CPU", config)
        finally:
            if locale.setlocale(locale.LC_CTYPE) != before:
                locale.setlocale(locale.LC_CTYPE, before)


def precision_used(compiled) -> str:
    """The precision a compiled model runs in (``bf16`` only where the CPU has it, else ``f32``)."""
    used = compiled.get_property("INFERENCE_PRECISION_HINT")  # an ov.Type
    return used.get_type_name() if hasattr(used, "get_type_name") else str(used)


def _to_openvino(t: torch.Tensor):
    """An OpenVINO tensor sharing the memory of the contiguous torch tensor ``t`` (fp32 or bf16; numpy has
    no bf16, so bf16 goes over as its 16-bit pattern). ``t`` must outlive the inference."""
    import openvino as ov

    if t.dtype == torch.bfloat16:
        return ov.Tensor(t.view(torch.int16).numpy(), list(t.shape), ov.Type.bf16)
    return ov.Tensor(t.numpy(), shared_memory=True)


def _to_torch(tensor) -> torch.Tensor:
    """A torch view of an OpenVINO tensor's memory (numpy has no bf16: OpenVINO shows bf16 as float16)."""
    import openvino as ov

    data = torch.from_numpy(tensor.data)
    return data.view(torch.bfloat16) if tensor.element_type == ov.Type.bf16 else data


class OpenVinoUnavailableError(P2PHDError):
    """OpenVINO is not installed (a one-line message for the CLI)."""


def require_openvino():
    """The ``openvino`` module, or :class:`OpenVinoUnavailableError` with the install hint.

    OpenVINO's telemetry is kept out: importing ``openvino`` sends a usage event to Google Analytics from a
    forked copy of this process (``openvino_telemetry``). A desktop tool does not phone home unasked, and
    forking a process of several GB held the GIL for 20-30 ms, a stall of the editor's UI (issue 11).
    ``openvino.tools.ovc`` falls back to its own no-op stub when that package cannot be imported (what
    uninstalling it does, OpenVINO's documented opt-out)."""
    sys.modules.setdefault("openvino_telemetry", None)  # None in sys.modules: its import raises ImportError
    try:
        import openvino
    except ImportError:
        raise OpenVinoUnavailableError(INSTALL_HINT) from None
    return openvino


def _release_all(compiled_models: dict) -> None:
    """Free compiled models' buffers without the GIL first, then drop them: dropped with their buffers,
    label2city_1024p's compiled model held the GIL 280 ms (a UI stall), 140 ms after ``release_memory``
    (which lets go of it). Call only while no inference runs on them."""
    for compiled in compiled_models.values():
        with suppress(AttributeError, RuntimeError):  # an OpenVINO without release_memory: dropped as is
            compiled.release_memory()
    compiled_models.clear()


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
    Call with the encoded network input (N=1); returns ``(out, coarse, stats)`` as torch tensors, fp32 but
    a bf16 graph's coarse features and statistics (``coarse`` and ``stats`` None for a global generator).
    :meth:`prepare` may run on another thread than the calls (the editor prepares in the background);
    :meth:`ready` tells whether a call for a shape would convert or compile first."""

    def __init__(self, G: nn.Module, precision: str, cache_dir: Path, lookup: bool = True, config=None):
        if precision not in OV_HINTS:
            raise ValueError(f"OpenVINO precision must be one of {OV_HINTS}, not {precision!r}")
        ov = require_openvino()
        self.G = G.float().eval()
        self.requested = precision
        self.lookup = lookup
        self.config = config  # G's ModelConfig: converting runs in a child process (see convert)
        self.bf16_graph = precision == "bf16"  # a graph made for bf16 (openvino_convert.convert's ``bf16``)
        stem_dtype = torch.bfloat16 if self.bf16_graph else torch.float32  # what the graph takes (NHWC)
        # calls hold _call_lock while the stems' buffers are in use
        self.stems = Stems(self.G, reuse_buffers=True, dtype=stem_dtype).eval() if lookup else None
        self.input_nc = stem_slots(self.G)[0][1].in_channels
        self.cache_dir = Path(cache_dir)
        self.local = hasattr(G, "n_local_enhancers")
        self._weights = weights_hash(self.G)
        self._core = ov.Core()
        self._core.set_property({"CACHE_DIR": str(self.cache_dir / "blobs")})
        self._compiled: dict[tuple[int, ...], object] = {}
        self._lock = threading.Lock()
        self._call_lock = threading.Lock()  # one frame at a time: the stems' buffers are reused
        self._request = None  # (compiled model, its infer request), reused by the next frame
        self.precision_used: str | None = None  # what the last compiled model reports
        self.converted = 0  # conversions done by this object (the cache's misses)
        self.prepare_seconds: dict[tuple[int, ...], float] = {}  # convert (if needed) + compile, per shape
        self.last_timings: dict[str, float] = {}

    @property
    def name(self) -> str:
        """What renders, for status bars and benchmarks: e.g. ``openvino f32 + lookup``."""
        return f"openvino {self.precision_used or self.requested}" + (" + lookup" if self.lookup else "")

    def ir_path(self, shape: tuple[int, ...]) -> Path:
        # v2: the RGB output conv split into pixel phases (phase_conv.py); v3: the transposed convs as
        # sub-pixel convs (subpixel_deconv.py), the coarse features in NHWC; v4: the sub-pixel convs without
        # zero taps, bf16 graphs' extra outputs in bf16; v5: the stems' norm + ReLU outside the graph, its
        # inputs NHWC in the graph's precision; older conversions are not reused
        variant = ("fp32-ir-lookup" if self.lookup else "fp32-ir") + "-v5" + ("-bf16" if self.bf16_graph else "")
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
                    nice = BACKGROUND_NICE if background else 0
                    convert(self.G, shape, xml, self.lookup, self.config, nice, self.bf16_graph)
                    self.converted += 1
            config = {"INFERENCE_PRECISION_HINT": self.requested, "PERFORMANCE_HINT": "LATENCY"}
            # from the path, not read_model(): the C++ side then reads and compiles without taking the GIL
            # (read_model + compile held it for 23-29 ms at a time, stalling the editor's UI thread)
            compiled = compile_keeping_locale(self._core, xml, config)
            self.precision_used = precision_used(compiled)
            old, self._compiled = self._compiled, {shape: compiled}  # one size at a time: they hold the weights
            with suppress(OSError):  # the cache's cap is housekeeping: it never fails a frame
                mark_used(xml)
                prune(self.cache_dir)
            with self._call_lock:  # no frame runs on the old model now
                self._request = None
                _release_all(old)
                if self.stems is not None:  # the stems' buffers for this size, touched here rather than in a frame
                    self.stems.reserve(shape)
            self.prepare_seconds[shape] = time.perf_counter() - t0
            return compiled

    def release_memory(self) -> None:
        """Free the compiled models' buffers without the GIL, for an engine being replaced (they are compiled
        again if it is used after all). A preparation still running (perhaps a conversion of minutes) is not
        waited for: its compiled model is then dropped as is."""
        if not self._lock.acquire(blocking=False):
            return
        try:
            with self._call_lock:
                self._request = None
                _release_all(self._compiled)
        finally:
            self._lock.release()

    def __call__(self, x: torch.Tensor, should_cancel: ShouldCancel = never):
        """``should_cancel``: polled every ``POLL_MS`` while OpenVINO runs; when true the inference is
        cancelled and :class:`RunCancelledError` raised (a stale frame frees the CPU within ~0.1 s)."""
        if x.shape[0] != 1:
            raise ValueError("the OpenVINO backend renders one frame at a time")
        compiled = self.prepare(tuple(x.shape))
        with self._call_lock:
            return self._call(compiled, x, should_cancel)

    def _request_for(self, compiled):
        """The infer request of the last frame when it was on ``compiled`` and not cancelled: a fresh one
        allocates its intermediate buffers again (page faults on ~1 GB at 2048x1024: 30-60 ms a frame)."""
        if self._request is None or self._request[0] is not compiled:
            self._request = (compiled, compiled.create_infer_request())
        return self._request[1]

    def _call(self, compiled, x: torch.Tensor, should_cancel: ShouldCancel = never):
        t0 = time.perf_counter()
        stem_stats = []
        if self.stems is not None:
            with torch.inference_mode():
                features, stem_stats = self.stems(x.detach().cpu())
            inputs = [_to_openvino(t.permute(0, 2, 3, 1)) for t in features]  # the NHWC buffers themselves
        else:
            inputs = [np.ascontiguousarray(x.detach().float().cpu().numpy())]
        t1 = time.perf_counter()
        request = self._request_for(compiled)
        # No numpy copies: inputs are shared with OpenVINO and outputs cloned by torch, which releases the
        # GIL (np.array of the 268 MB coarse features held it long enough to stall the editor's UI).
        request.start_async(dict(enumerate(inputs)), share_inputs=True)
        while not request.wait_for(POLL_MS):  # waits without the GIL
            if should_cancel():
                self._request = None  # the next frame starts on a fresh request
                request.cancel()
                with suppress(RuntimeError):  # OpenVINO reports the cancelled inference as an error
                    request.wait()
                raise RunCancelledError
        request.wait()  # re-raises what went wrong inside the inference
        outs = [_to_torch(request.get_output_tensor(i)).clone() for i in range(len(compiled.outputs))]
        if self.local:  # the coarse features come in NHWC (openvino_convert): an NCHW view, channels_last
            outs[1] = outs[1].permute(0, 3, 1, 2)
        self.last_timings = {"stems": t1 - t0, "openvino": time.perf_counter() - t1}
        if not self.local:
            return outs[0], None, None
        # the last enhancer's stem norm came from the stems, the others from the graph (modules() order)
        stats = stem_stats[-1:] + [(outs[i], outs[i + 1]) for i in range(2, len(outs), 2)]
        return outs[0], outs[1], stats
