"""The Qt-free inference engine: one loaded generator, fast precision, cached state for previews.

``Engine.run(request)`` is synchronous. A full frame records what stroke previews reuse: the encoded
input, the last enhancer's coarse input features and its instance-norm statistics, and the frame.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
from p2phd.models.checkpoint.bundle import Bundle
from p2phd.models.checkpoint.loader import load_bundle
from p2phd.models.engine import incremental, onehot_lut
from p2phd.models.engine.cancel import cancellable, never
from p2phd.models.engine.device import applied, backend_flags, crop_grid, synchronizer
from p2phd.models.engine.norm import norm_mode, norms_in, replace_instance_norms
from p2phd.models.engine.precision import HardwareFacts, Precision, cpu_supports_bf16, select_precision
from p2phd.models.engine.request import EngineRequest, EngineResult, Rect, RunCancelledError
from p2phd.models.engine.work_size import fit_request, work_size
from p2phd.models.errors import InputMapError
from p2phd.models.inputs.network_input import encode_input, feature_map, validate_maps
from p2phd.models.mapfiles.resize import resize_nearest
from p2phd.models.mapfiles.sizing import render_size
from p2phd.models.mapfiles.to_image import to_uint8_image
from p2phd.models.networks.generator import LocalEnhancer
from p2phd.models.vocabulary import BACKENDS

CACHE_DIR = Path(os.environ.get("P2PHD_CACHE", Path.home() / ".cache" / "p2phd"))
COMPILE_MIN_PIXELS = 1024 * 512


BF16_MIN_NGF = 32


def cpu_bf16_pays(ngf: int, precision: Precision) -> bool:
    """False for CPU bf16 with a narrow generator (``ngf`` < 32): this torch's oneDNN has no fast bf16
    kernels for 16-channel convolutions on AVX512-BF16 CPUs (measured on Zen 4, 2 cores: a 7x7
    39->16 conv 26 s in bf16 vs 0.16 s in fp32, a 3x3 16->32 conv 6x slower; the demo model, ngf 16,
    renders 1024x512 9x slower in bf16), while ngf 32 (label2city_1024p) is 2x faster in bf16."""
    return not (precision.device == "cpu" and precision.dtype == torch.bfloat16 and ngf < BF16_MIN_NGF)


def precision_for(
    bundle: Bundle, requested: str = "auto", device: str = "auto", facts: HardwareFacts | None = None
) -> Precision:
    """:func:`select_precision`, except that ``auto`` keeps fp32 where bf16 would be slower (see above)."""
    chosen = select_precision(requested, device, facts)
    if requested == "auto" and not cpu_bf16_pays(bundle.config.ngf, chosen):
        chosen = select_precision("fp32", chosen.device, facts)
    return chosen


def lookup_for(requested: str, chosen: Precision) -> bool | None:
    """Whether the engine computes the one-hot input convs as a lookup (None: the engine's default).
    ``auto`` on the CPU uses it even when it settled on fp32 (equal within fp32 rounding: measured
    92.9 dB, at most 1 grey level, vs the conv on the demo model); an explicit ``fp32`` never does,
    so it stays bit-identical to NVIDIA."""
    return True if requested == "auto" and chosen.device == "cpu" else None


def openvino_installed() -> bool:
    import importlib.util

    return importlib.util.find_spec("openvino") is not None


def fast_path_for(
    requested: str,
    chosen: Precision,
    backend: str = "auto",
    installed: bool | None = None,
    bf16_cpu: bool | None = None,
) -> str | None:
    """Whether full frames go through OpenVINO with the one-hot lookups in front (the fastest exact-enough
    CPU path, issue 11): ``--backend openvino``, or ``auto`` on the CPU where OpenVINO is installed,
    except for an explicit ``fp32``, which stays NVIDIA's convs bit for bit. Returns OpenVINO's precision
    hint (``bf16`` / ``f32``), or None for no fast path.

    ``auto`` asks OpenVINO for bf16 wherever the CPU has it, also where the eager engine stays fp32 for a
    narrow generator (:func:`cpu_bf16_pays`: torch's 16-channel bf16 convolutions are slow, OpenVINO's
    are not; on the bf16 Zen 4 machine the demo model's exact frame at 1024x512 went 0.36-0.41 -> 0.25-0.29 s)."""
    if backend != "openvino":
        if backend != "auto" or chosen.device != "cpu" or requested == "fp32":
            return None
        if not (openvino_installed() if installed is None else installed):
            return None
    if chosen.dtype == torch.bfloat16:
        return "bf16"
    bf16_cpu = cpu_supports_bf16() if bf16_cpu is None else bf16_cpu
    return "bf16" if requested == "auto" and chosen.device == "cpu" and bf16_cpu else "f32"


def should_compile(backend: str, precision: Precision, pixels: int) -> bool:
    """Whether a frame of ``pixels`` runs through torch.compile (before any failure to compile).

    ``auto`` compiles only where it was measured to pay: CPU bf16 at 1024x512 and more (~40 s once,
    ~25% per frame after). Never on CUDA by default: a frame takes milliseconds there, compiling takes
    minutes and every new size recompiles. Not on MPS (new in inductor), not in fp32 (the reference
    precision stays on NVIDIA's eager kernels)."""
    if backend == "compile":
        return True
    return (
        backend == "auto"
        and precision.device == "cpu"
        and precision.dtype == torch.bfloat16
        and pixels >= COMPILE_MIN_PIXELS
    )


class Engine:
    """Synthesizes frames from :class:`EngineRequest` snapshots; not thread-safe: the
    :class:`~p2phd.models.engine.service.EngineService` runs every job on one thread.

    Takes over ``bundle.G``: its instance norms are swapped for cached-statistics ones and it is cast
    to the chosen device, dtype and memory layout in place. ``backend``: ``eager``, ``compile``
    (torch.compile with weight freezing, compiled code cached under ``~/.cache/p2phd``) or ``auto``
    (see :func:`should_compile`; falls back to eager when compiling fails). ``render_at_native``:
    documents larger than the model's native size render at native size (the editor's choice).
    ``fast_path``: full frames through OpenVINO with the input convs as lookups (``backend=openvino``
    implies it; :meth:`load` turns it on for ``auto`` where OpenVINO is installed). ``interactive``: a
    frame never waits for a conversion or a compile (see :meth:`prepare_fast`).
    """

    def __init__(
        self,
        bundle: Bundle,
        precision: Precision,
        backend: str = "auto",
        render_at_native: bool = False,
        lookup: bool | None = None,
        fast_path: bool | str | None = False,
        interactive: bool = False,
    ):
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, not {backend!r}")
        self.bundle = bundle
        self.config = bundle.config
        self.precision = precision
        self.device = torch.device(precision.device)
        # the fast path: OpenVINO behind the one-hot lookups (``auto`` where installed, see fast_path_for)
        # (``fast_path``: True, or OpenVINO's precision hint as fast_path_for gives it)
        hint = fast_path if isinstance(fast_path, str) else None
        fast_path = bool(fast_path) or backend == "openvino"
        self._openvino = self._openvino_backend(bundle.G, precision, bundle.config, hint) if fast_path else None
        # interactive (the editor): a frame never waits for converting or compiling; the fast path is
        # prepared by prepare_fast() on another thread and used once ready, eager until then
        self.interactive = bool(interactive)
        self._fast_failed: BaseException | None = None
        self.notify: Callable[[str], None] | None = None  # told before a frame waits for a conversion
        self.memory_format = torch.channels_last if precision.channels_last else torch.contiguous_format
        G = bundle.G
        for norm in replace_instance_norms(G):
            norm.stats_dtype = precision.norm_dtype
        # The one-hot input convs as a per-key lookup (onehot_lut): on by default for reduced precision
        # on the CPU; fp32 keeps NVIDIA's conv bit for bit.
        if lookup is None:
            lookup = precision.device == "cpu" and precision.dtype != torch.float32
        # in fp32 (the conv is fast there) only the full-resolution input conv pays for its lookup
        self.lookups = onehot_lut.install(G, pooled=precision.dtype != torch.float32) if lookup else []
        self.G = G.to(self.device, precision.dtype).to(memory_format=self.memory_format).eval()
        if bundle.E is not None:
            bundle.E.to(self.device).eval()  # E stays fp32: it runs once per user photo
        self.flags = backend_flags(precision)  # applied only while the engine runs (see device.applied)
        self.crop_grid = crop_grid(precision)
        self._sync = synchronizer(self.device)
        self.local = isinstance(self.G, LocalEnhancer)
        if self.local:
            self.down, self.up = self.G.enhancer(self.G.n_local_enhancers)
            self.radius = incremental.receptive_radius([self.down, self.up])
            for norm in norms_in(self.down) + norms_in(self.up):
                norm.mode = "record"  # every full frame keeps the statistics previews replay
        self.backend = backend
        self.backend_used = "eager"
        self._render_at_native = bool(render_at_native)
        self._compiled = None
        self._input: torch.Tensor | None = None  # encoded full-frame input of the last request
        # the same in NVIDIA's fp32 NCHW (the same tensor where the engine runs fp32 NCHW): the OpenVINO path
        # and its lookups read it, and each frame's encode writes into it rather than into fresh memory
        self._input_f32: torch.Tensor | None = None
        self._coarse: torch.Tensor | None = None
        self._coarse_size: tuple[int, int] | None = None  # (w, h) of the frame the coarse features belong to
        self._frame: np.ndarray | None = None
        # what the running full frame's generator is (the fast path's name or "eager"), None between
        # frames: read from other threads (the editor cancels a slow frame once its fast path is ready)
        self.generating: str | None = None

    @property
    def render_at_native(self) -> bool:
        """A loading option (``Engine(..., render_at_native=True)``), fixed for the engine's life."""
        return self._render_at_native

    @classmethod
    def load(
        cls,
        checkpoint: str | Path,
        device: str = "auto",
        precision: str = "auto",
        backend: str = "auto",
        facts: HardwareFacts | None = None,
        render_at_native: bool = False,
        interactive: bool = False,
    ) -> Engine:
        bundle = load_bundle(checkpoint, "cpu")
        chosen = precision_for(bundle, precision, device, facts)
        return cls(
            bundle,
            chosen,
            backend,
            render_at_native=render_at_native,
            lookup=lookup_for(precision, chosen),
            fast_path=fast_path_for(precision, chosen, backend),
            interactive=interactive,
        )

    def describe_backend(self) -> str:
        """What rendered the last full frame, for status bars: ``openvino f32 + lookup``, ``eager bf16``..."""
        if self.backend_used.startswith("openvino"):
            return self.backend_used
        lookup = " + lookup" if self.lookups else ""
        return f"{self.backend_used} {self.precision.name}{lookup}"

    def _eager_generator(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """G(x) and, for a local enhancer, the coarse features its last enhancer adds."""
        return self.G.forward_with_coarse(x) if self.local else (self.G(x), None)

    @staticmethod
    def _openvino_backend(G, precision: Precision, config=None, hint: str | None = None):
        """Full frames through OpenVINO (``backends/openvino.py``) from an fp32 copy of NVIDIA's G; ``hint``:
        OpenVINO's precision (default: the engine's)."""
        import copy

        from p2phd.models.engine.backends.openvino import OpenVinoGenerator, require_openvino

        require_openvino()  # the one-line install hint before copying anything
        if precision.device != "cpu":
            raise ValueError(f"--backend openvino runs on the CPU, not {precision.device}")
        hint = hint or ("f32" if precision.dtype == torch.float32 else "bf16")
        return OpenVinoGenerator(copy.deepcopy(G).float(), hint, CACHE_DIR / "openvino", lookup=True, config=config)

    @property
    def fast_path(self) -> str | None:
        """What the fast path is (e.g. ``openvino f32 + lookup``), or None without one."""
        return None if self._openvino is None or self._fast_failed else self._openvino.name

    def input_shape(self, size: tuple[int, int] | None = None) -> tuple[int, int, int, int]:
        """The network input's shape for a frame of ``size`` (w, h; default: native), as the engine fits it."""
        cfg = self.config
        w, h = size or (cfg.native_width or 1024, cfg.native_height or 512)
        if self._render_at_native:
            w, h = work_size(cfg, (w, h))
        nc = self._openvino.input_nc if self._openvino is not None else self.G.model[1].in_channels
        return (1, nc, h, w)

    def release_memory(self) -> None:
        """Free what can be freed without holding the GIL before this engine is dropped (another model
        replaces it): the fast path's compiled models' buffers."""
        if self._openvino is not None:
            self._openvino.release_memory()

    def fast_ready(self, size: tuple[int, int] | None = None) -> bool:
        return self.fast_path is not None and self._openvino.ready(self.input_shape(size))

    def prepare_fast(self, size: tuple[int, int] | None = None) -> bool:
        """Convert (once: cached on disk) and compile the fast path for frames of ``size``; blocking, and
        safe on any thread while the engine renders elsewhere. False when there is no fast path or it
        failed (frames stay eager; ``fast_error`` says why)."""
        return self.fast_path is not None and self._prepare(self.input_shape(size), background=True)

    @property
    def fast_error(self) -> BaseException | None:
        return self._fast_failed

    def _use_fast(self, shape: tuple[int, ...]) -> bool:
        """Whether a frame of network input ``shape`` goes through the fast path (preparing it if due)."""
        if self._openvino is None or self._fast_failed is not None:
            return False
        shape = tuple(shape)
        if self.backend == "openvino" or self._openvino.ready(shape):
            return True
        if self.interactive:
            # converted before (on disk): compiling takes seconds, less than an eager frame of a big model
            # (label2city_1024p at 2048x1024: 2-3 s vs ~20 s here), so the first frame waits for it;
            # a conversion (minutes) never runs in a frame
            return self._openvino.ir_path(shape).exists() and self._prepare(shape)
        if self.notify is not None and not self._openvino.ir_path(shape).exists():
            self.notify(
                f"converting the model for OpenVINO at {shape[-1]}x{shape[-2]} "
                f"(once per model and size; cached in {self._openvino.cache_dir})"
            )
        return self._prepare(shape)

    def _prepare(self, shape: tuple[int, ...], background: bool = False) -> bool:
        try:
            self._openvino.prepare(shape, background)
        except Exception as exc:  # no ONNX exporter, an op OpenVINO lacks...: eager stays correct
            if self.backend == "openvino":
                raise
            self._fast_failed = exc
            return False
        return True

    def _generate_openvino(
        self, x: torch.Tensor, should_cancel: Callable[[], bool] = never
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        out, coarse, stats = self._openvino(x, should_cancel)
        self.backend_used = self._openvino.name
        if coarse is None:
            return out, None
        # what stroke previews replay: the last enhancer's norm statistics and the coarse features
        for norm, (mean, var) in zip(norms_in(self.down) + norms_in(self.up), stats, strict=True):
            norm.stats = (mean.to(self.device, norm.stats_dtype), var.to(self.device, norm.stats_dtype))
        # in whatever layout it came (NHWC from OpenVINO): crops of it are added to the enhancer's features,
        # and a transposing copy of 64x512x1024 cost 0.14 s per frame
        return out, coarse.to(self.device, self.precision.dtype)

    def _wants_compiled(self, x: torch.Tensor) -> bool:
        if self.backend == "compile":
            return True
        if self._compiled is False or self.interactive or self.fast_path is not None:
            return False  # failed before; a frame that must not stall; OpenVINO is the fast path
        return should_compile(self.backend, self.precision, x.shape[-1] * x.shape[-2])

    def _generate(
        self, x: torch.Tensor, should_cancel: Callable[[], bool] = never, fp32_input: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """G's output and coarse features; raises RunCancelledError inside the network once
        ``should_cancel()`` is true (eager and OpenVINO frames; not a torch.compile'd one).
        ``generating`` names the path while it runs. ``fp32_input``: ``x`` as fp32 NCHW, where the
        caller has it (the OpenVINO path reads that rather than a round trip through the engine's dtype)."""
        fast = self._use_fast(x.shape)
        self.generating = self._openvino.name if fast else "eager"
        try:
            if fast:
                return self._generate_openvino(x if fp32_input is None else fp32_input, should_cancel)
            return self._generate_torch(x, should_cancel)
        finally:
            self.generating = None

    def _generate_torch(
        self, x: torch.Tensor, should_cancel: Callable[[], bool] = never
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        if self._wants_compiled(x):
            os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(CACHE_DIR / "inductor"))
            try:
                if self._compiled is None:
                    # freezing folds the weights in and lets oneDNN pre-pack them (the big CPU win)
                    self._compiled = torch.compile(self._eager_generator, dynamic=False, options={"freezing": True})
                result = self._compiled(x)
                self.backend_used = "compile"
                return result
            except Exception:  # no C++ toolchain, unsupported op...: eager is still correct
                if self.backend == "compile":
                    raise
                self._compiled = False
        self.backend_used = "eager"
        with cancellable(self.G, should_cancel):
            return self._eager_generator(x)

    # ----------------------------------------------------------------- input encoding
    def _features(self, request: EngineRequest, rows: slice, cols: slice) -> np.ndarray | None:
        if not self.config.instance_feat:
            return None
        if request.feature_map is not None:
            return request.feature_map[:, rows, cols]
        objects = request.instance if request.instance is not None else request.label.astype(np.int32)
        return feature_map(objects[rows, cols], self.bundle.clusters, self.config.feat_num, dict(request.styles))

    def encode(self, request: EngineRequest, rect: Rect | None = None, out: torch.Tensor | None = None) -> torch.Tensor:
        """The network input for ``rect`` of the request (default: all), in the engine's dtype/layout;
        ``out``: a buffer to write it into where it fits (see ``encode_input``)."""
        return self._engine_layout(self._encode_f32(request, rect, out))

    def _encode_f32(
        self, request: EngineRequest, rect: Rect | None = None, out: torch.Tensor | None = None
    ) -> torch.Tensor:
        """The network input as NVIDIA builds it (fp32, NCHW), written into ``out`` where it fits."""
        h, w = request.label.shape
        x0, y0, x1, y1 = rect or (0, 0, w, h)
        rows, cols = slice(y0, y1), slice(x0, x1)
        # copies: request arrays are read-only and torch.from_numpy warns about those
        inst = None if request.instance is None else np.array(request.instance[rows, cols])
        return encode_input(
            self.config,
            np.array(request.label[rows, cols]),
            inst,
            self._features(request, rows, cols),
            device=self.device,
            out=out,
        )

    def _engine_layout(self, x: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
        """``x`` (fp32 NCHW) in the engine's dtype and memory format: ``x`` itself where they agree, else
        written into ``out`` where it fits (a bf16 engine's 2048x1024 input: fresh memory cost ~0.1 s)."""
        dtype, fmt = self.precision.dtype, self.memory_format
        if x.dtype == dtype and x.is_contiguous(memory_format=fmt):
            return x
        fits = out is not None and out is not x and out.shape == x.shape and out.dtype == dtype
        if fits and out.device == x.device and out.is_contiguous(memory_format=fmt):
            return out.copy_(x)
        return x.to(dtype).contiguous(memory_format=fmt)

    def _update_input(self, request: EngineRequest) -> Rect | None:
        """Refresh the cached encoded input; returns the rectangle that changed (None: all of it)."""
        h, w = request.label.shape
        size = request.size
        base = self.config.size_multiple
        if w % base or h % base:
            raise InputMapError(f"map {w}x{h}: this model needs width and height that are multiples of {base}")
        if request.dirty is None or self._input is None or self._input.shape[-2:] != (h, w):
            # the last frame's buffers are overwritten in place where they fit: nothing else holds them
            self._input_f32 = self._encode_f32(request, out=self._input_f32)
            self._input = self._engine_layout(self._input_f32, out=self._input)
            return None
        changed = incremental.expand(request.dirty, 1, *size)  # edges of neighbours change too
        context = incremental.expand(changed, 1, *size)
        block = self._encode_f32(request, context)
        cx0, cy0 = context[0], context[1]
        x0, y0, x1, y1 = changed
        inner = block[:, :, y0 - cy0 : y1 - cy0, x0 - cx0 : x1 - cx0]
        self._input_f32[:, :, y0:y1, x0:x1] = inner
        if self._input is not self._input_f32:
            self._input[:, :, y0:y1, x0:x1] = inner
        return changed

    # ----------------------------------------------------------------- running
    def run(self, request: EngineRequest, should_cancel: Callable[[], bool] = never) -> EngineResult:
        """A stroke preview when asked and possible, else the exact full frame."""
        request = self.fit(request)
        with applied(self.flags):
            if request.preview and request.dirty is not None and self.can_preview(request):
                return self.preview(request, should_cancel)
            return self.full_frame(request, should_cancel)

    def fit(self, request: EngineRequest) -> EngineRequest:
        """The request as the engine renders it: at native size when ``render_at_native`` is set."""
        if not self._render_at_native:
            return request
        return fit_request(self.config, request)

    def can_preview(self, request: EngineRequest) -> bool:
        return self.local and self._frame is not None and self._frame.shape[:2] == request.label.shape

    def _check(self, should_cancel: Callable[[], bool]) -> None:
        if should_cancel():
            raise RunCancelledError

    def _elapsed(self, t0: float) -> float:
        self._sync()  # on a GPU, wait for the stage's kernels: else the next stage is charged for them
        return time.perf_counter() - t0

    @torch.inference_mode()
    def full_frame(self, request: EngineRequest, should_cancel: Callable[[], bool] = never) -> EngineResult:
        with applied(self.flags):
            return self._full_frame(request, should_cancel)

    def _full_frame(self, request: EngineRequest, should_cancel: Callable[[], bool]) -> EngineResult:
        timings = {}
        if self._openvino is not None:
            # the fast path decided (and, converted before, compiled) before the input is encoded, not while
            # it is: a first encode touches fresh memory, and on a 2-vCPU microVM fresh memory touched while
            # both vCPUs are busy (the compile) froze the whole process 20-30 ms at a time (UI stalls)
            t0 = time.perf_counter()
            self._use_fast(self.input_shape(request.size))  # request is fitted already: its own size
            if time.perf_counter() - t0 > 0.01:  # it compiled (or converted) here: the frame's latency says so
                timings["prepare"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        self._update_input(request)
        timings["encode"] = self._elapsed(t0)
        self._check(should_cancel)
        t0 = time.perf_counter()
        out, coarse = self._generate(self._input, should_cancel, fp32_input=self._input_f32)
        if self.local:
            self._coarse, self._coarse_size = coarse, request.size
        timings["generator"] = self._elapsed(t0)
        if self._openvino is not None and self.backend_used == self._openvino.name:
            timings.update(self._openvino.last_timings)  # its split: lookups (stems) and OpenVINO
        self._check(should_cancel)
        t0 = time.perf_counter()
        self._frame = to_uint8_image(out[0])
        self._frame.setflags(write=False)  # shared with the caller: results are snapshots
        timings["to_image"] = time.perf_counter() - t0
        return EngineResult(self._frame, request.revision, timings, backend=self.describe_backend())

    @torch.inference_mode()
    def preview(self, request: EngineRequest, should_cancel: Callable[[], bool] = never) -> EngineResult:
        """Recompute the dirty rectangle + receptive field with cached coarse features and statistics."""
        if not self.can_preview(request) or request.dirty is None:
            raise ValueError("a preview needs a local-enhancer model, a dirty rectangle and a previous full frame")
        t0 = time.perf_counter()
        changed = self._update_input(request)
        w, h = request.size
        out_rect, crop = incremental.plan_crop(changed, self.radius, w, h, self.crop_grid)
        self._check(should_cancel)
        with applied(self.flags), self._preview_threads():
            patch = self.enhance_crops(incremental.crop_of(self._input, crop), crop)
        x0, y0, x1, y1 = out_rect
        inner = patch[0, :, y0 - crop[1] : y1 - crop[1], x0 - crop[0] : x1 - crop[0]]
        frame = self._frame.copy()
        frame[y0:y1, x0:x1] = to_uint8_image(inner)
        frame.setflags(write=False)
        self._frame = frame
        return EngineResult(frame, request.revision, {"preview": self._elapsed(t0)}, preview=True, region=out_rect)

    # ----------------------------------------------------------------- crops (previews.py)
    def prepare_crops(self, request: EngineRequest) -> None:
        """Make the coarse features and statistics crops replay match ``request``'s frame size.

        When the last full frame had another size (or there was none), a full frame of ``request``
        is rendered for them; the stroke caches (input, frame) then no longer match the render
        requests' chain of dirty rectangles, so they are dropped: the next run is a full frame."""
        if not self.local:
            raise ValueError("crops with cached statistics need a local-enhancer model")
        fitted = self.fit(request)
        if self._coarse is not None and self._coarse_size == fitted.size:
            return
        self.full_frame(dataclasses.replace(fitted, dirty=None))
        self._input = self._frame = None

    @torch.inference_mode()
    def enhance_crops(self, batch: torch.Tensor, crop: Rect) -> torch.Tensor:
        """The last local enhancer on ``batch`` (N x C x h x w: the network input inside ``crop``)
        plus the cached coarse features, its norms replaying the last full frame's statistics."""
        if self._coarse is None:
            raise ValueError("crops need the coarse features of a full frame first (prepare_crops)")
        # under the caller's backend flags: preview() applies the engine's, style previews turn benchmark off
        with norm_mode(self.down, "replay"), norm_mode(self.up, "replay"):
            return incremental.enhance_crop(self.down, self.up, batch, self._coarse, crop)

    @torch.inference_mode()
    def generate(self, batch: torch.Tensor) -> torch.Tensor:
        """The whole generator on a batch of inputs, each normalised with its own statistics."""
        if self.local:
            raise ValueError("a local-enhancer model renders crops with enhance_crops")
        return self.G(batch)

    def synthesize(
        self, label: np.ndarray, inst: np.ndarray | None = None, styles=None, size: tuple[int, int] | None = None
    ) -> np.ndarray:
        """Drop-in for :func:`p2phd.models.synthesis.synthesize`: maps resized as it does, uint8 photo out."""
        validate_maps(label, inst, self.config.label_nc)
        if styles and not self.config.instance_feat:
            raise InputMapError("--style needs an instance-feature model; this one has no feature clusters")
        w, h = render_size(self.config, (label.shape[1], label.shape[0]), size)
        label = resize_nearest(label, (w, h))
        inst = resize_nearest(inst, (w, h)) if inst is not None else None
        return self.full_frame(EngineRequest(label, inst, styles=styles or {})).image

    def style_previews(self, request: EngineRequest, object_id: int, indices=None):
        """See :func:`p2phd.models.engine.previews.style_previews`."""
        from p2phd.models.engine.previews import style_previews

        # one-off shapes (object box, batch of k): tuning kernels for them would cost more than it saves
        with applied({**self.flags, "cudnn_benchmark": False} if self.flags else {}):
            return style_previews(self, self.fit(request), object_id, indices)

    def encode_appearance(self, photo: np.ndarray, label: np.ndarray, instance: np.ndarray | None = None):
        """See :func:`p2phd.models.engine.previews.encode_appearance`."""
        from p2phd.models.engine.previews import encode_appearance

        with applied({**self.flags, "cudnn_benchmark": False} if self.flags else {}):
            return encode_appearance(self, photo, label, instance)

    @contextmanager
    def _preview_threads(self) -> Iterator[None]:
        # A dab is ~3 GFLOP: on the CPU one thread beats two, whose barrier waits stall whenever the GUI
        # thread or another process takes a core (measured 45 ms vs 600 ms on a busy 2-core machine).
        if self.device.type != "cpu":
            yield
            return
        previous = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            yield
        finally:
            torch.set_num_threads(previous)

    def warm_up(self, size: tuple[int, int] | None = None) -> float:
        """One full frame on a blank map of ``size`` (default: the model's native size); seconds taken."""
        cfg = self.config
        w, h = size or (cfg.native_width or 1024, cfg.native_height or 512)
        t0 = time.perf_counter()
        self.full_frame(EngineRequest(np.zeros((h, w), np.uint8)))
        self._input = self._input_f32 = self._coarse = self._frame = self._coarse_size = None
        return time.perf_counter() - t0
