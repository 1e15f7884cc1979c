"""Document events -> engine requests -> the engine service -> frames back on the UI thread.

The engine runs only on the engine service's thread (``EngineJobs``, which the controller owns and
lends to the docks for style previews and appearance); model loading runs there too. The UI thread
copies the maps into a frozen request and returns at once. During a stroke the dab events are
coalesced into one preview request at most every ``PREVIEW_INTERVAL_MS``; a committed change asks for
the exact frame. Results come back already converted to a QImage on the worker, so the UI thread
only paints.

The fast path (OpenVINO behind the one-hot lookups, ``Engine.fast_path``): the engine is loaded
``interactive``, so frames render eager at once; the fast path is prepared (converted once, cached on
disk, compiled) for the document's size on a plain daemon thread, neither the UI thread nor the engine
service's, and the exact frame is rendered again through it when it is ready (issue 11).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from p2phd.editor.document import Document
from p2phd.editor.events import ChangeEvent
from p2phd.editor.qt.image_convert import rgb_to_qimage
from p2phd.editor.qt.workers import WORKER_NICE, EngineJobs
from p2phd.models.engine.gil_copy import CopyPool
from p2phd.models.engine.request import EngineRequest, EngineResult, union_rect
from p2phd.models.engine.service import lower_thread_priority
from PySide6.QtCore import QEventLoop, QObject, Qt, QTimer, Signal
from PySide6.QtGui import QImage

PREVIEW_INTERVAL_MS = 30


@dataclass(frozen=True)
class RenderedFrame:
    image: QImage
    revision: int
    preview: bool
    latency_ms: float  # from submitting the request to the result being ready
    timings: dict = field(default_factory=dict)
    region: tuple[int, int, int, int] | None = None  # what changed versus the previous frame (None: all)
    serial: int = 0  # the engine service's count of completed frames (a gap: a frame was never shown)
    backend: str = ""  # what rendered an exact frame, e.g. "openvino f32 + lookup" (EngineResult.backend)


@dataclass(frozen=True)
class ModelSettings:
    path: Path
    device: str = "auto"
    precision: str = "auto"
    # auto: the OpenVINO fast path where installed, prepared in the background (never inside a frame:
    # the engine is interactive, so it never converts or torch.compiles while rendering)
    backend: str = "auto"
    render_at_native: bool = True  # a 2048x1024 document renders at e.g. the demo model's 512x256


def _load_library(engine):
    """The bundle's object library (None: none, or unreadable), read on the engine thread: ~35 ms of
    npz decoding for the demo bundle that would otherwise stall the UI thread when a model arrives."""
    path = getattr(getattr(engine, "bundle", None), "path", None)
    if path is None:
        return None
    try:
        from p2phd.models.features.library import ObjectLibrary

        return ObjectLibrary.load(path) or None
    except (ImportError, ValueError, OSError):
        return None


def _load_engine(settings: ModelSettings):
    from p2phd.models.engine.engine import Engine

    return Engine.load(
        settings.path,
        settings.device,
        settings.precision,
        settings.backend,
        render_at_native=settings.render_at_native,
        interactive=True,
    )


class _FastRelay(QObject):
    """Carries a finished preparation from its thread. Parentless: the thread keeps it alive by reference."""

    sig_done = Signal(object, bool)  # (engine, input shape), ok


class RenderController(QObject):
    sig_frame = Signal(object)  # RenderedFrame
    state_changed = Signal(str)  # "no model", "loading model", "rendering", "preview", "ready", "error: ..."
    engine_changed = Signal(object)  # Engine or None
    sig_model_failed = Signal(str)
    fast_changed = Signal(str)  # fast_state: "", "preparing", "ready" or "failed" (fast_error says why)

    def __init__(self, parent: QObject | None = None, loader=_load_engine) -> None:
        super().__init__(parent)
        self._loader = loader
        self.jobs = EngineJobs(self)  # the engine service: every engine job (and loading) runs there
        self.document: Document | None = None
        self.engine = None
        self.settings: ModelSettings | None = None
        self.library = None  # the engine's object library (models.features.library), read beside it
        self.state = "no model"
        self.last_frame: RenderedFrame | None = None
        self._unsubscribe = None
        self._dirty: tuple | None = None
        self._whole = True
        self._committed = True
        self._latest: tuple[int, bool] | None = None
        self._frozen: tuple = (None, -1, None, None)  # (document, revision, label, instance)
        self._copies = CopyPool()  # the frozen copies' memory, reused (fresh 10 MB page-faults in)
        # A preview is not submitted while another request is in flight: a newer submission would make
        # the running one stale (dropped), so a stroke would show no preview at all on a slow engine.
        self._awaiting = False
        self._shown_serial = 0
        self._flush_timer = QTimer(self, singleShot=True)
        self._flush_timer.timeout.connect(self._flush)
        # the fast path: what the status bar shows, and the (engine, input shape) keys being prepared
        self.fast_state = ""
        self.fast_error = ""
        self._preparing: set[tuple[object, tuple[int, ...]]] = set()
        self._closed = False
        self._fast_relay = _FastRelay()
        self._fast_relay.sig_done.connect(self._fast_prepared, Qt.ConnectionType.QueuedConnection)

    # -- document ---------------------------------------------------------------------------------------
    def set_document(self, document: Document) -> None:
        if self._unsubscribe:
            self._unsubscribe()
        self.document = document
        self._frozen = (None, -1, None, None)
        self._copies = CopyPool()  # the last document's buffers go with the requests still holding them
        for array in (document.label, document.instance):  # the revision's copy and a request in flight
            self._copies.reserve(array, 2)
        self._unsubscribe = document.subscribe(self._on_change)
        self.request_full_frame()
        self._prepare_fast()

    def _on_change(self, event: ChangeEvent) -> None:
        r = event.rect
        if event.kind == "document":
            self._whole = True
        elif not r.empty:
            rect = (r.x0, r.y0, r.x1, r.y1)
            self._dirty = rect if self._dirty is None else union_rect(self._dirty, rect)
        self._committed = event.committed
        self._schedule(0 if event.committed else PREVIEW_INTERVAL_MS)

    def request_full_frame(self) -> None:
        self._whole, self._committed = True, True
        self._schedule(0)

    def _schedule(self, delay_ms: int) -> None:
        if self._flush_timer.isActive() and self._flush_timer.remainingTime() <= delay_ms:
            return
        self._flush_timer.start(delay_ms)

    def _flush(self) -> None:
        doc = self.document
        if doc is None or self.engine is None or (self._dirty is None and not self._whole):
            return
        if self._awaiting and not self._committed:
            return  # _deliver flushes again when the frame in flight arrives
        label, instance = self.frozen_maps(doc)
        request = EngineRequest(
            label,
            instance,
            doc.styles.as_mapping(),
            revision=doc.revision,
            dirty=None if self._whole else self._dirty,
            preview=not self._committed,
        )
        self._dirty, self._whole = None, False
        self._latest = (request.revision, request.preview)
        self._awaiting = True
        self._set_state("preview" if request.preview else "rendering")
        self.jobs.render(request, self._to_frame(time.perf_counter()), self._deliver, self._on_error)

    def frozen_maps(self, doc: Document) -> tuple[np.ndarray, np.ndarray]:
        """Read-only copies of the maps, shared by everything that needs them at one revision: the exact
        frame a stroke's release asks for has the last preview's maps, and the autosave snapshot after
        it too; copying 10 MB again (2048 x 1024) cost the UI thread 3-25 ms while the engine loads both
        cores."""
        doc_now, revision, label, instance = self._frozen
        if doc_now is not doc or revision != doc.revision:
            label, instance = self._copies.copy(doc.label), self._copies.copy(doc.instance)
            self._frozen = (doc, doc.revision, label, instance)
        return label, instance

    @staticmethod
    def _to_frame(submitted: float):
        def to_frame(result: EngineResult) -> RenderedFrame:  # on the engine thread
            latency = (time.perf_counter() - submitted) * 1000.0
            image = rgb_to_qimage(result.image)
            frame = RenderedFrame(image, result.revision, result.preview, latency, dict(result.timings), result.region)
            return replace(frame, backend=getattr(result, "backend", ""))

        return to_frame

    # -- results (UI thread) ----------------------------------------------------------------------------
    def _deliver(self, frame: RenderedFrame) -> None:
        serial = self.jobs.last_serial("frame")
        if serial != self._shown_serial + 1 and frame.region is not None:
            frame = replace(frame, region=None)  # a frame was rendered but never shown: repaint everything
        self._shown_serial = serial
        frame = replace(frame, serial=serial)
        self.last_frame = frame
        self._awaiting = False
        if self._dirty is not None or self._whole:
            self._schedule(0)
        latest = self._latest
        done = latest is None or (frame.revision >= latest[0] and (latest[1] or not frame.preview))
        busy = not done or self._flush_timer.isActive()
        self._set_state("rendering" if busy else ("preview" if frame.preview else "ready"))
        self.sig_frame.emit(frame)
        if not busy and self._slower_than_fast(frame):
            self.request_full_frame()  # it was in flight when the fast path got ready

    def _on_error(self, exc: BaseException) -> None:
        self._awaiting = False
        message = str(exc) or type(exc).__name__
        self._set_state(f"error: {message.splitlines()[0]}")

    def _set_state(self, state: str) -> None:
        if state != self.state:
            self.state = state
            self.state_changed.emit(state)

    # -- model loading --------------------------------------------------------------------------------------
    @property
    def loading(self) -> bool:
        return self.jobs.busy("load")

    def load_model(self, settings: ModelSettings) -> None:
        """Load on the engine thread (never beside a render); the editor stays usable meanwhile and the
        current engine renders again once the load is done or has failed."""
        self._set_state("loading model")
        self._load(lambda: self._loader(settings), settings)

    def set_engine(self, engine, settings: ModelSettings | None = None) -> None:
        """Use ``engine`` (None: no model) from now on; it is installed on the engine thread, in order."""
        self._load(lambda: engine, settings)

    def _load(self, loader, settings: ModelSettings | None) -> None:
        """``loader()`` (the engine) and its object library on the engine thread, then installed."""
        library = []

        def load():
            engine = loader()
            library.append(_load_library(engine))
            return engine

        self.jobs.load(load, lambda engine: self._installed(engine, library[-1], settings), self._load_failed)

    def _installed(self, engine, library, settings: ModelSettings | None) -> None:
        self.engine, self.settings, self.library = engine, settings, library
        self._latest, self._awaiting = None, False
        self._set_fast("")  # a new engine: an old preparation's completion no longer matters
        self._set_state("no model" if engine is None else "ready")
        # the window's own work first (model card, docks: ~10 ms of Python), then the threads that compete
        # with it for the GIL: done the other way round, the frame's encoding and the fast path's
        # preparation stretched it to 30-80 ms (switch interval 5 ms, two busy threads)
        self.engine_changed.emit(engine)
        if engine is not None:
            self.request_full_frame()
        self._prepare_fast()

    # -- the fast path -------------------------------------------------------------------------------------
    def _fast_key(self, engine) -> tuple[object, tuple[int, ...]] | None:
        """(engine, the network input's shape for the document's size): what one preparation is for."""
        doc = self.document
        if doc is None or engine is None:
            return None
        h, w = doc.label.shape
        return engine, tuple(engine.input_shape((w, h)))

    def _prepare_fast(self) -> None:
        """Prepare the engine's fast path for the document's size on a daemon thread (at most one thread
        per engine and shape); the exact frame is requested again when it is ready."""
        engine = self.engine
        if self._closed or self.document is None or getattr(engine, "fast_path", None) is None:
            if getattr(engine, "fast_error", None) is None:
                self._set_fast("")
            return  # no model, no fast path (no OpenVINO, explicit fp32...), or it failed before
        h, w = self.document.label.shape
        if engine.fast_ready((w, h)):
            self._set_fast("ready")
            return
        self._set_fast("preparing")
        key = self._fast_key(engine)
        if key in self._preparing:
            return
        self._preparing.add(key)
        relay = self._fast_relay

        def prepare() -> None:  # on the preparation thread: only the engine's thread-safe prepare_fast
            lower_thread_priority(WORKER_NICE)  # OpenVINO's compile threads start here: yield to the UI
            try:
                ok = engine.prepare_fast((w, h))
            except Exception:  # prepare_fast reports failures by returning False; be safe anyway
                ok = False
            relay.sig_done.emit(key, ok)

        threading.Thread(target=prepare, name="p2phd-fast-prepare", daemon=True).start()

    def _fast_prepared(self, key, ok: bool) -> None:  # UI thread
        self._preparing.discard(key)
        engine = key[0]
        if self._closed or engine is not self.engine or key != self._fast_key(engine):
            return  # another model or another document size meanwhile: its own preparation reports
        if not ok:
            error = getattr(engine, "fast_error", None)
            self._set_fast("failed", (str(error) or type(error).__name__) if error is not None else "unavailable")
            return
        self._set_fast("ready")
        if self._awaiting:
            # a frame in flight: an eager one is cancelled (made stale) and rendered again through the fast
            # path; one that waited for the compile (converted before) comes from it: not twice (~20 s at 1024p)
            running = getattr(engine, "generating", None)
            if running is not None and running != engine.fast_path:
                self.request_full_frame()
        elif self._slower_than_fast(self.last_frame):
            self.request_full_frame()  # the exact frame again, through the fast path

    def _slower_than_fast(self, frame: RenderedFrame | None) -> bool:
        """Whether ``frame`` is an exact frame (or none yet) that did not come from the ready fast path."""
        engine = self.engine
        if self.fast_state != "ready" or engine is None or engine.fast_path is None:
            return False
        return frame is None or (not frame.preview and frame.backend != engine.fast_path)

    def _set_fast(self, state: str, error: str = "") -> None:
        if (state, error) != (self.fast_state, self.fast_error):
            self.fast_state, self.fast_error = state, error
            self.fast_changed.emit(state)

    def _load_failed(self, exc: BaseException) -> None:
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        self._set_state("no model" if self.engine is None else "ready")
        self.sig_model_failed.emit(message)

    def exact_frame(self, timeout_ms: int = 120_000) -> RenderedFrame | None:
        """The exact (non-preview) frame of the document's current revision, rendering it if needed.

        Spins a local event loop while waiting, so the window keeps repainting (used by export).
        """
        doc = self.document

        def current() -> bool:
            frame = self.last_frame
            return frame is not None and not frame.preview and frame.revision >= doc.revision

        if current() or self.engine is None:
            return self.last_frame if current() else None
        loop = QEventLoop()
        timer = QTimer(self, singleShot=True)
        timer.timeout.connect(loop.quit)

        def check(*_) -> None:
            if current() or self.state.startswith("error"):
                loop.quit()

        self.sig_frame.connect(check)
        self.state_changed.connect(check)
        timer.start(timeout_ms)
        self.request_full_frame()
        loop.exec()
        self.sig_frame.disconnect(check)
        self.state_changed.disconnect(check)
        timer.stop()
        timer.deleteLater()
        return self.last_frame if current() else None

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """For tests and benchmarks: block until the engine thread has nothing pending or running."""
        return self.jobs.wait_idle(int(timeout * 1000))

    def close(self) -> None:
        self._closed = True  # a preparation still running reports to nobody (its thread is a daemon)
        self._flush_timer.stop()
        if self._unsubscribe:
            self._unsubscribe()
            self._unsubscribe = None
        self.jobs.close()
