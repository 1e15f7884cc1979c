"""Document events -> engine requests -> latest-wins worker -> frames back on the UI thread.

The engine runs only on the scheduler's worker thread; the UI thread copies the maps into a frozen
request and returns at once. During a stroke the dab events are coalesced into one preview request
at most every ``PREVIEW_INTERVAL_MS``; a committed change asks for the exact frame. Results cross back
through a queued signal, already converted to a QImage on the worker so the UI thread only paints.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from p2phd.editor.document import Document
from p2phd.editor.events import ChangeEvent
from p2phd.editor.qt.image_convert import rgb_to_qimage
from p2phd.editor.qt.workers import locked_run
from p2phd.models.engine.request import EngineRequest, EngineResult, union_rect
from p2phd.models.engine.scheduler import LatestWinsScheduler
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


@dataclass(frozen=True)
class ModelSettings:
    path: Path
    device: str = "auto"
    precision: str = "auto"
    backend: str = "eager"  # torch.compile would stall the first frames for a long while on a CPU


def _load_engine(settings: ModelSettings):
    from p2phd.models.engine.engine import Engine

    engine = Engine.load(settings.path, settings.device, settings.precision, settings.backend)
    engine.render_at_native = True  # a 2048x1024 document renders at e.g. the demo model's 512x256
    return engine


class RenderController(QObject):
    sig_frame = Signal(object)  # RenderedFrame
    state_changed = Signal(str)  # "no model", "loading model", "rendering", "preview", "ready", "error: ..."
    engine_changed = Signal(object)  # Engine or None
    sig_model_failed = Signal(str)
    _sig_worker_frame = Signal(object)
    _sig_worker_error = Signal(str)
    _sig_loaded = Signal(object, object)  # (settings, engine or exception)

    def __init__(self, parent: QObject | None = None, loader=_load_engine) -> None:
        super().__init__(parent)
        self._loader = loader
        self.document: Document | None = None
        self.engine = None
        self.settings: ModelSettings | None = None
        self.state = "no model"
        self.last_frame: RenderedFrame | None = None
        self._unsubscribe = None
        self._scheduler: LatestWinsScheduler | None = None
        self._dirty: tuple | None = None
        self._whole = True
        self._committed = True
        self._submitted: dict[tuple[int, bool], float] = {}  # (revision, preview) -> submit time
        self._latest: tuple[int, bool] | None = None
        self._latency = 0.0  # of the run that just finished (written and read on the worker)
        # A preview is not submitted while another request is in flight: a newer submission would make
        # the running one stale (dropped), so a stroke would show no preview at all on a slow engine.
        self._awaiting = False
        self._dropped_seen = 0
        self._loading: threading.Thread | None = None
        self._flush_timer = QTimer(self, singleShot=True)
        self._flush_timer.timeout.connect(self._flush)
        self._sig_worker_frame.connect(self._deliver, Qt.ConnectionType.QueuedConnection)
        self._sig_worker_error.connect(self._on_error_ui, Qt.ConnectionType.QueuedConnection)
        self._sig_loaded.connect(self._on_loaded, Qt.ConnectionType.QueuedConnection)

    # -- document ---------------------------------------------------------------------------------------
    def set_document(self, document: Document) -> None:
        if self._unsubscribe:
            self._unsubscribe()
        self.document = document
        self._unsubscribe = document.subscribe(self._on_change)
        self.request_full_frame()

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
        if doc is None or self._scheduler is None or (self._dirty is None and not self._whole):
            return
        if self._awaiting and not self._committed:
            return  # _deliver flushes again when the frame in flight arrives
        request = EngineRequest(
            doc.label,
            doc.instance,
            doc.styles.as_mapping(),
            revision=doc.revision,
            dirty=None if self._whole else self._dirty,
            preview=not self._committed,
        )
        self._dirty, self._whole = None, False
        self._latest = (request.revision, request.preview)
        self._awaiting = True
        self._submitted[self._latest] = time.perf_counter()
        self._set_state("preview" if request.preview else "rendering")
        self._scheduler.submit(request)

    # -- worker side (runs on the scheduler thread) ------------------------------------------------
    def _timed_run(self, run):
        def timed(request: EngineRequest, should_cancel):
            started = self._submitted.get((request.revision, request.preview), time.perf_counter())
            result = run(request, should_cancel)
            self._latency = (time.perf_counter() - started) * 1000.0
            return result

        return timed

    def _on_result(self, result: EngineResult) -> None:
        image = rgb_to_qimage(result.image)
        frame = RenderedFrame(
            image, result.revision, result.preview, self._latency, dict(result.timings), result.region
        )
        self._sig_worker_frame.emit(frame)

    def _on_error(self, request: EngineRequest, exc: BaseException) -> None:
        self._sig_worker_error.emit(str(exc) or type(exc).__name__)

    # -- UI side --------------------------------------------------------------------------------------------
    def _deliver(self, frame: RenderedFrame) -> None:
        for key in [k for k in self._submitted if k[0] < frame.revision or k == (frame.revision, frame.preview)]:
            del self._submitted[key]
        dropped = self._scheduler.dropped if self._scheduler is not None else 0
        if dropped != self._dropped_seen and frame.region is not None:
            frame = replace(frame, region=None)  # a frame was skipped: its changes must be repainted too
        self._dropped_seen = dropped
        self.last_frame = frame
        self._awaiting = False
        if self._dirty is not None or self._whole:
            self._schedule(0)
        latest = self._latest
        done = latest is None or (frame.revision >= latest[0] and (latest[1] or not frame.preview))
        busy = not done or self._flush_timer.isActive()
        self._set_state("rendering" if busy else ("preview" if frame.preview else "ready"))
        self.sig_frame.emit(frame)

    def _on_error_ui(self, message: str) -> None:
        self._submitted.clear()
        self._awaiting = False
        self._set_state(f"error: {message.splitlines()[0]}")

    def _set_state(self, state: str) -> None:
        if state != self.state:
            self.state = state
            self.state_changed.emit(state)

    # -- model loading --------------------------------------------------------------------------------------
    @property
    def loading(self) -> bool:
        return self._loading is not None

    def load_model(self, settings: ModelSettings) -> None:
        """Load in a background thread; the current engine keeps rendering until the new one is ready."""
        self._set_state("loading model")

        def work() -> None:
            try:
                outcome = self._loader(settings)
            except Exception as exc:  # reported in the status bar, the editor stays usable
                outcome = exc
            self._sig_loaded.emit(settings, outcome)

        self._loading = threading.Thread(target=work, name="p2phd-model-load", daemon=True)
        self._loading.start()

    def set_engine(self, engine, settings: ModelSettings | None = None) -> None:
        """Use ``engine`` (None: no model) from now on; the previous worker is closed."""
        if self._scheduler is not None:
            self._scheduler.close()
            self._scheduler = None
        self.engine, self.settings = engine, settings
        self._submitted.clear()
        self._latest, self._awaiting = None, False
        if engine is None:
            self._set_state("no model")
        else:
            self._scheduler = LatestWinsScheduler(self._timed_run(locked_run(engine)), self._on_result, self._on_error)
            self._set_state("ready")
            self.request_full_frame()
        self.engine_changed.emit(engine)

    def _on_loaded(self, settings: ModelSettings, outcome) -> None:
        self._loading = None
        if isinstance(outcome, Exception):
            message = str(outcome).splitlines()[0] if str(outcome) else type(outcome).__name__
            self._set_state("no model" if self.engine is None else "ready")
            self.sig_model_failed.emit(message)
            return
        self.set_engine(outcome, settings)

    def exact_frame(self, timeout_ms: int = 120_000) -> RenderedFrame | None:
        """The exact (non-preview) frame of the document's current revision, rendering it if needed.

        Spins a local event loop while waiting, so the window keeps repainting (used by export).
        """
        doc = self.document

        def current() -> bool:
            frame = self.last_frame
            return frame is not None and not frame.preview and frame.revision >= doc.revision

        if current() or self._scheduler is None:
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
        """For tests and benchmarks: block until the worker has nothing pending or running."""
        return self._scheduler is None or self._scheduler.wait_idle(timeout)

    def close(self) -> None:
        self._flush_timer.stop()
        if self._unsubscribe:
            self._unsubscribe()
            self._unsubscribe = None
        if self._scheduler is not None:
            self._scheduler.close()
            self._scheduler = None
