"""The Qt face of the job queues in ``models/engine/service.py``: submit on the UI thread, get the
outcome back on the UI thread, newest job of each kind only. No locks here: the engine service runs
every engine job on its one thread; these classes only carry outcomes across threads.

- :class:`EngineJobs` wraps the :class:`~p2phd.models.engine.service.EngineService` (model loading,
  frames, style previews, appearance): the render controller owns one and lends it to the docks.
- :class:`BackgroundRunner` wraps a plain :class:`~p2phd.models.engine.service.JobQueue` for work
  that needs no engine (the library dock's thumbnails), one kind, same latest-wins rules.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from p2phd.models.engine.service import EngineService, JobQueue, Outcome
from PySide6.QtCore import QObject, Qt, Signal

# The workers' niceness increment: their compute threads yield the cores to the UI thread at once
# (see p2phd.models.engine.service.lower_thread_priority).
WORKER_NICE = 5
OnDone = Callable[[Any], None]
OnError = Callable[[BaseException], None]


class _Relay(QObject):
    """Carries outcomes from the worker thread. Parentless, so the worker keeps it alive by reference."""

    sig_outcome = Signal(object)


class _QtDelivery(QObject):
    """Callbacks per kind; an outcome reaches its callback only if its job is still the newest of its kind."""

    sig_busy_changed = Signal(bool)

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._relay = _Relay()
        self._relay.sig_outcome.connect(self._on_outcome, Qt.ConnectionType.QueuedConnection)
        self._callbacks: dict[str, tuple[int, OnDone | None, OnError | None]] = {}
        self._serials: dict[str, int] = {}
        self._closed = False

    def _queue(self) -> JobQueue:
        raise NotImplementedError

    def _track(self, kind: str, ticket: int, on_done: OnDone | None, on_error: OnError | None) -> int:
        was_busy = bool(self._callbacks)
        self._callbacks[kind] = (ticket, on_done, on_error)
        if not was_busy:
            self.sig_busy_changed.emit(True)
        return ticket

    def _untrack(self, kind: str) -> None:
        if self._callbacks.pop(kind, None) is not None and not self._callbacks:
            self.sig_busy_changed.emit(False)

    def last_serial(self, kind: str) -> int:
        """The serial of the last outcome of ``kind`` delivered (see ``Outcome.serial``)."""
        return self._serials.get(kind, 0)

    def busy(self, kind: str | None = None) -> bool:
        """An outcome (of ``kind``) is still to be delivered."""
        return bool(self._callbacks) if kind is None else kind in self._callbacks

    def cancel(self, kind: str) -> None:
        """Nothing more of ``kind`` is delivered; its running job sees ``should_cancel()``."""
        if not self._closed:
            self._queue().cancel(kind)
        self._untrack(kind)

    def wait_idle(self, msecs: int = -1) -> bool:
        """Block until the worker has nothing waiting or running (tests and shutdown)."""
        return self._queue().wait_idle(None if msecs < 0 else msecs / 1000)

    def close(self) -> None:
        """Stop the worker; later submissions are ignored (widgets may still fire during shutdown)."""
        self._closed = True
        self._callbacks.clear()
        self._queue().close()

    def _on_outcome(self, outcome: Outcome) -> None:
        entry = self._callbacks.get(outcome.kind)
        if entry is None or entry[0] != outcome.ticket or not self._queue().is_current(outcome.kind, outcome.ticket):
            self._dropped(outcome)
            return
        _, on_done, on_error = entry
        self._untrack(outcome.kind)
        if outcome.error is None:
            self._serials[outcome.kind] = outcome.serial
        self._delivered(outcome)
        if outcome.error is None:
            if on_done is not None:
                on_done(outcome.result)
        elif on_error is None:
            raise outcome.error
        else:
            on_error(outcome.error)

    def _delivered(self, outcome: Outcome) -> None:
        """Hook: an outcome is about to reach its callback."""

    def _dropped(self, outcome: Outcome) -> None:
        """Hook: an outcome arrived after its job was superseded."""


class EngineJobs(_QtDelivery):
    """The editor's engine service. ``engine`` may be read for its facts (bundle, config, precision);
    it runs only inside jobs, on the service's thread."""

    engine_changed = Signal(object)  # the engine now installed (or None), after a load was delivered

    def __init__(self, parent: QObject | None = None, engine: Any = None):
        super().__init__(parent)
        self.service = EngineService(self._relay.sig_outcome.emit, engine, nice=WORKER_NICE)
        self.destroyed.connect(lambda *_, service=self.service: service.close(0))

    def _queue(self) -> JobQueue:
        return self.service.jobs

    @property
    def engine(self) -> Any:
        return self.service.engine

    def load(self, loader: Callable[[], Any], on_done: OnDone | None = None, on_error: OnError | None = None) -> int:
        """Build the engine with ``loader()`` on the service thread; ``on_done(engine)`` on the UI thread."""
        if self._closed:
            return -1
        return self._track("load", self.service.load(loader), on_done, on_error)

    def render(
        self,
        request,
        after: Callable[[Any], Any] | None = None,
        on_done: OnDone | None = None,
        on_error: OnError | None = None,
    ) -> int:
        """A frame job (see :meth:`EngineService.render`); ``after`` runs on the worker."""
        if self._closed:
            return -1
        return self._track("frame", self.service.render(request, after), on_done, on_error)

    def submit(
        self,
        kind: str,
        work: Callable[[Any, Callable[[], bool]], Any],
        on_done: OnDone | None = None,
        on_error: OnError | None = None,
    ) -> int:
        """``work(engine, should_cancel)`` as the newest job of ``kind`` (``styles``, ``appearance``...)."""
        if self._closed:
            return -1
        return self._track(kind, self.service.submit(kind, work), on_done, on_error)

    def _delivered(self, outcome: Outcome) -> None:
        if outcome.kind == "load" and outcome.error is None:
            self.engine_changed.emit(outcome.result)


class BackgroundRunner(_QtDelivery):
    """One background job at a time; only the newest submitted job's outcome is delivered."""

    KIND = "job"

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._jobs = JobQueue(self._relay.sig_outcome.emit, "p2phd-background", nice=WORKER_NICE)
        self.destroyed.connect(lambda *_, jobs=self._jobs: jobs.close(0))

    def _queue(self) -> JobQueue:
        return self._jobs

    def submit(self, fn: Callable[[], Any], on_done: OnDone | None = None, on_error: OnError | None = None) -> int:
        """Queue ``fn()``; an older job still waiting is discarded. Returns the job's ticket."""
        if self._closed:
            return -1
        return self._track(self.KIND, self._jobs.submit(self.KIND, lambda should_cancel: fn()), on_done, on_error)

    def cancel(self) -> None:  # noqa: D102 - one kind only
        super().cancel(self.KIND)

    @property
    def busy(self) -> bool:  # type: ignore[override]
        """True while the newest job has not delivered yet."""
        return super().busy()

    def is_current(self, ticket: int) -> bool:
        return self._jobs.is_current(self.KIND, ticket)

    def wait(self, msecs: int = -1) -> bool:
        """Block until the worker is idle (tests and shutdown); True when it is."""
        return self.wait_idle(msecs)
