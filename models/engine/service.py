"""The engine service: one worker thread owns the engine (and its device); every job runs there.

Callers on any thread submit jobs of a *kind* and get a ticket; the outcome comes back through the
``deliver`` callback, on the worker thread (a GUI adapts it to its own thread, see
``editor/qt/workers.py``). Kinds used by the editor:

- ``load``: build (or replace) the engine. Loading moves weights to the device, so it runs on the
  same thread as rendering: a reload never overlaps a render (MPS crashes on concurrent use).
- ``frame``: a full frame or a stroke preview of an :class:`EngineRequest`.
- ``styles``: style previews; ``appearance``: the encoder on a user photo.

Latest wins per kind: a job submitted while another of its kind is waiting replaces it (taking its
place in the queue, and for frames folding the dropped request's dirty area in); a running job of
that kind sees ``should_cancel()`` turn true and its outcome is dropped. A frame that was cancelled
or failed after it started is folded into the next frame request too, so the engine re-encodes
everything it may have missed. Kinds do not cancel each other; they run in submission order.

Qt-free and torch-free at import: the engine is built by the loader a caller passes in.
"""

from __future__ import annotations

import itertools
import os
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from p2phd.models.engine.cancel import ShouldCancel
from p2phd.models.engine.request import EngineRequest, EngineResult, RunCancelledError

__all__ = ["EngineService", "JobQueue", "NoModelError", "Outcome", "RunCancelledError"]

LOAD, FRAME, STYLES, APPEARANCE = "load", "frame", "styles", "appearance"


def lower_thread_priority(increment: int) -> bool:
    """Raise the calling thread's niceness by ``increment``; threads it starts afterwards (torch's OpenMP
    team, OpenVINO's workers) inherit it. Linux only (niceness is per thread there); False elsewhere.

    Why: on a 2-core machine a frame's compute threads and the UI thread compete for the cores, and the
    UI thread waited up to 33-46 ms for a time slice while an OpenVINO frame ran (issue 11's stall
    bench); niced compute threads yield to it at once."""
    if not sys.platform.startswith("linux") or increment <= 0:
        return False
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, os.getpriority(os.PRIO_PROCESS, tid) + increment)
    except OSError:
        return False
    return True


class NoModelError(RuntimeError):
    """An engine job was submitted while no model is loaded."""


@dataclass(frozen=True)
class Outcome:
    """What a job produced: ``result``, or ``error`` when it raised. ``serial`` counts the jobs of
    this kind that completed so far, this one included (a consumer that sees a gap in the serials
    knows a completed result never reached it)."""

    kind: str
    ticket: int
    result: Any = None
    error: BaseException | None = None
    serial: int = 0


class _Job:
    __slots__ = ("kind", "ticket", "work", "request")

    def __init__(self, kind: str, ticket: int, work: Callable, request: EngineRequest | None):
        self.kind, self.ticket, self.work, self.request = kind, ticket, work, request


def _merged(request: EngineRequest | None, older: EngineRequest | None) -> EngineRequest | None:
    if request is None or older is None:
        return request
    return request.superseding(older)


class JobQueue:
    """One worker thread, latest wins per kind, cooperative cancellation (no engine knowledge).

    ``submit(kind, work)`` runs ``work(should_cancel)``; with ``request=`` it runs
    ``work(request, should_cancel)`` where ``request`` has the dirty areas of superseded, cancelled
    and failed requests of the kind folded in.
    """

    def __init__(self, deliver: Callable[[Outcome], None], name: str = "p2phd-jobs", nice: int = 0):
        self._deliver = deliver
        self._nice = nice  # the worker's niceness increment (see lower_thread_priority); a GUI's choice
        self._cond = threading.Condition()
        self._pending: dict[str, _Job] = {}  # insertion order is run order
        self._latest: dict[str, int] = {}  # newest ticket per kind: older ones are stale
        self._leftover: dict[str, EngineRequest] = {}  # unfinished requests to fold into the next one
        self._completed: dict[str, int] = {}
        self._tickets = itertools.count(1)
        self._running: _Job | None = None
        self._closed = False
        self.dropped = 0  # jobs superseded, cancelled or stale (for tests and status bars)
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    @property
    def thread(self) -> threading.Thread:
        return self._thread

    def submit(self, kind: str, work: Callable[..., Any], request: EngineRequest | None = None) -> int:
        """Queue ``work`` as the newest job of ``kind``; returns its ticket."""
        with self._cond:
            if self._closed:
                raise RuntimeError("the job queue is closed")
            ticket = next(self._tickets)
            old = self._pending.get(kind)
            if old is not None:
                request = _merged(request, old.request)
                self.dropped += 1
            request = _merged(request, self._leftover.pop(kind, None))
            self._pending[kind] = _Job(kind, ticket, work, request)  # a replacement keeps the old place
            self._latest[kind] = ticket
            self._cond.notify_all()
            return ticket

    def is_current(self, kind: str, ticket: int) -> bool:
        """False once a newer job of ``kind`` was submitted, the kind was cancelled or the queue closed."""
        with self._cond:
            return not self._closed and self._latest.get(kind) == ticket

    def cancel(self, kind: str) -> None:
        """Drop the waiting job of ``kind`` and make a running one stale: nothing more is delivered."""
        with self._cond:
            old = self._pending.pop(kind, None)
            if old is not None:
                self.dropped += 1
                if old.request is not None:  # never rendered: the next request must cover its area
                    self._leftover[kind] = _merged(old.request, self._leftover.get(kind))
            self._latest[kind] = next(self._tickets)
            self._cond.notify_all()

    def busy(self, kind: str | None = None) -> bool:
        """A job (of ``kind``) is waiting or running."""
        with self._cond:
            if kind is None:
                return bool(self._pending) or self._running is not None
            return kind in self._pending or (self._running is not None and self._running.kind == kind)

    def _loop(self) -> None:
        lower_thread_priority(self._nice)  # before the first job starts any compute threads
        while True:
            with self._cond:
                while not self._pending and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return
                job = self._pending.pop(next(iter(self._pending)))
                self._running = job
            outcome = self._run(job)
            if outcome is not None:
                try:
                    self._deliver(outcome)
                except Exception:  # the worker must survive a broken callback
                    sys.excepthook(*sys.exc_info())
            with self._cond:
                self._running = None
                self._cond.notify_all()

    def _run(self, job: _Job) -> Outcome | None:
        def should_cancel() -> bool:
            return not self.is_current(job.kind, job.ticket)

        result, error, finished = None, None, False
        try:
            result = job.work(should_cancel) if job.request is None else job.work(job.request, should_cancel)
            finished = True
        except RunCancelledError:
            pass
        except Exception as exc:  # delivered to the caller, never lost; the worker goes on
            error = exc
        with self._cond:
            if finished:
                self._completed[job.kind] = self._completed.get(job.kind, 0) + 1
            elif job.request is not None:  # the engine may have half-applied it: redo its area next time
                pending = self._pending.get(job.kind)
                if pending is not None:
                    pending.request = _merged(pending.request, job.request)
                else:
                    self._leftover[job.kind] = _merged(job.request, self._leftover.get(job.kind))
            if self._closed or self._latest.get(job.kind) != job.ticket or not (finished or error):
                self.dropped += 1
                return None
            serial = self._completed.get(job.kind, 0) if finished else 0
        return Outcome(job.kind, job.ticket, result, error, serial)

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until nothing is waiting or running and the last outcome was delivered (True), or
        the timeout passes (False)."""
        with self._cond:
            return self._cond.wait_for(lambda: self._closed or (not self._pending and self._running is None), timeout)

    def close(self, timeout: float | None = 5.0) -> None:
        """Stop: waiting jobs are dropped, a running one is made stale; joins the worker up to ``timeout``."""
        with self._cond:
            self._closed = True
            self._pending.clear()
            self._cond.notify_all()
        if timeout != 0 and threading.current_thread() is not self._thread:
            self._thread.join(timeout)


class EngineService:
    """The engine and the one thread that runs it. Jobs get the current engine as their first argument.

    ``engine`` may be read from any thread for its immutable facts (config, bundle, precision);
    running it anywhere but in a job is a bug.
    """

    def __init__(
        self, deliver: Callable[[Outcome], None], engine: Any = None, name: str = "p2phd-engine", nice: int = 0
    ):
        self._engine = engine
        self.jobs = JobQueue(deliver, name, nice)

    @property
    def engine(self) -> Any:
        return self._engine

    def _require(self) -> Any:
        if self._engine is None:
            raise NoModelError("no model is loaded")
        return self._engine

    def load(self, loader: Callable[[], Any]) -> int:
        """Run ``loader()`` on the worker and make its engine (or None: no model) the current one.

        A load superseded while running is discarded; a failed load keeps the previous engine."""

        def work(should_cancel: ShouldCancel) -> Any:
            engine = loader()
            if should_cancel():
                raise RunCancelledError
            old, self._engine = self._engine, engine  # on the worker thread: no other job is running
            if old is not None and old is not engine:
                # here, not wherever its last reference dies (the UI thread): dropping a compiled OpenVINO
                # model holds the GIL; what its release frees first does not (see OpenVinoGenerator.release_memory)
                release = getattr(old, "release_memory", None)
                if callable(release):
                    release()
            return engine

        return self.jobs.submit(LOAD, work)

    def render(self, request: EngineRequest, after: Callable[[EngineResult], Any] | None = None) -> int:
        """``engine.run(request)`` as the newest ``frame`` job; ``after(result)`` (e.g. a conversion
        for the GUI) also runs on the worker, and its value is the outcome's result."""

        def work(merged: EngineRequest, should_cancel: ShouldCancel) -> Any:
            result = self._require().run(merged, should_cancel)
            return result if after is None else after(result)

        return self.jobs.submit(FRAME, work, request)

    def submit(self, kind: str, work: Callable[[Any, ShouldCancel], Any]) -> int:
        """Run ``work(engine, should_cancel)`` as the newest job of ``kind`` (``styles``, ``appearance``...)."""
        if kind in (LOAD, FRAME):
            raise ValueError(f"use load() / render() for {kind!r} jobs")
        return self.jobs.submit(kind, lambda should_cancel: work(self._require(), should_cancel))

    def style_previews(self, request: EngineRequest, object_id: int, indices=None) -> int:
        """``engine.style_previews`` as the newest ``styles`` job."""
        return self.submit(STYLES, lambda engine, _: engine.style_previews(request, object_id, indices))

    def is_current(self, kind: str, ticket: int) -> bool:
        return self.jobs.is_current(kind, ticket)

    def cancel(self, kind: str) -> None:
        self.jobs.cancel(kind)

    def busy(self, kind: str | None = None) -> bool:
        return self.jobs.busy(kind)

    def wait_idle(self, timeout: float | None = None) -> bool:
        return self.jobs.wait_idle(timeout)

    def close(self, timeout: float | None = 5.0) -> None:
        self.jobs.close(timeout)
