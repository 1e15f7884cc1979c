"""Run a callable off the UI thread and get its result back on the UI thread, newest job only.

``BackgroundRunner.submit(fn, on_done, on_error)`` queues ``fn()`` on a private one-thread pool. The
result comes back through a queued signal, so ``on_done`` runs on the thread that owns the runner
(the UI thread). Every submit bumps a generation counter: results of older jobs are dropped, which
cancels them as far as the UI is concerned (the callable may also poll ``is_current``).

The engine is not thread-safe (its cached frame, features and norm modes are shared state), so code
that calls it from a worker holds :func:`engine_lock` for that engine; the render controller does too.
"""

from __future__ import annotations

import threading
import weakref
from collections import deque
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRunnable, Qt, QThreadPool, Signal


class FairLock:
    """A non-reentrant lock granted in arrival order.

    A plain lock lets the thread that just released it take it straight back, so a job that runs the
    engine in several short slices (style previews) would starve the render worker waiting between
    them. With first-come-first-served the render slips in between two slices.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._locked = False
        self._waiters: deque[object] = deque()

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        with self._cond:
            if not self._locked and not self._waiters:
                self._locked = True
                return True
            if not blocking or timeout == 0:
                return False
            token = object()
            self._waiters.append(token)
            granted = self._cond.wait_for(
                lambda: not self._locked and self._waiters[0] is token, None if timeout < 0 else timeout
            )
            if granted:
                self._waiters.popleft()
                self._locked = True
            else:
                self._waiters.remove(token)
                self._cond.notify_all()  # the next in line may be free to go now
            return granted

    def release(self) -> None:
        with self._cond:
            if not self._locked:
                raise RuntimeError("release of an unlocked FairLock")
            self._locked = False
            self._cond.notify_all()

    def __enter__(self) -> FairLock:
        self.acquire()
        return self

    def __exit__(self, *exc_info) -> None:
        self.release()


_ENGINE_LOCKS: weakref.WeakKeyDictionary[Any, FairLock] = weakref.WeakKeyDictionary()
_ENGINE_LOCKS_GUARD = threading.Lock()


def engine_lock(engine: Any) -> FairLock:
    """The lock every thread holds while it runs ``engine`` (one per engine object, first come first served)."""
    with _ENGINE_LOCKS_GUARD:
        lock = _ENGINE_LOCKS.get(engine)
        if lock is None:
            lock = _ENGINE_LOCKS[engine] = FairLock()
        return lock


def locked_run(engine: Any) -> Callable[..., Any]:
    """``engine.run`` holding :func:`engine_lock`: what a ``LatestWinsScheduler`` should be given."""
    lock = engine_lock(engine)

    def run(request, should_cancel=lambda: False):
        with lock:
            return engine.run(request, should_cancel)

    return run


class _Relay(QObject):
    """Carries results across threads. Parentless, so a running job keeps it alive by reference."""

    sig_finished = Signal(int, object)
    sig_failed = Signal(int, object)


class _Job(QRunnable):
    def __init__(self, generation: int, fn: Callable[[], Any], relay: _Relay):
        super().__init__()
        self.setAutoDelete(True)
        self._generation, self._fn, self._relay = generation, fn, relay

    def run(self) -> None:
        try:
            result = self._fn()
        except BaseException as exc:  # delivered to on_error on the UI thread, never lost
            self._relay.sig_failed.emit(self._generation, exc)
        else:
            self._relay.sig_finished.emit(self._generation, result)


class BackgroundRunner(QObject):
    """One background job at a time per runner; only the newest submitted job's outcome is delivered."""

    sig_busy_changed = Signal(bool)

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(1)
        self._relay = _Relay()
        self._relay.sig_finished.connect(self._on_finished, Qt.ConnectionType.QueuedConnection)
        self._relay.sig_failed.connect(self._on_failed, Qt.ConnectionType.QueuedConnection)
        self._lock = threading.Lock()
        self._generation = 0
        self._callbacks: tuple[Callable[[Any], None] | None, Callable[[BaseException], None] | None] = (None, None)
        self._busy = False

    @property
    def generation(self) -> int:
        return self._generation

    @property
    def next_generation(self) -> int:
        """The generation the next ``submit`` gets (UI thread), so its callable can poll ``is_current``."""
        return self._generation + 1

    @property
    def busy(self) -> bool:
        """True while the newest job has not delivered yet."""
        return self._busy

    def is_current(self, generation: int) -> bool:
        """For long callables: False once a newer job was submitted or ``cancel`` was called."""
        with self._lock:
            return generation == self._generation

    def submit(
        self,
        fn: Callable[[], Any],
        on_done: Callable[[Any], None] | None = None,
        on_error: Callable[[BaseException], None] | None = None,
    ) -> int:
        """Queue ``fn``; older jobs still queued are discarded. Returns the job's generation."""
        with self._lock:
            self._generation += 1
            generation = self._generation
        self._callbacks = (on_done, on_error)
        self._pool.clear()  # queued, not yet started: never run them
        self._pool.start(_Job(generation, fn, self._relay))
        self._set_busy(True)
        return generation

    def cancel(self) -> None:
        """Drop whatever is queued or running: nothing more is delivered."""
        with self._lock:
            self._generation += 1
        self._pool.clear()
        self._callbacks = (None, None)
        self._set_busy(False)

    def wait(self, msecs: int = -1) -> bool:
        """Block until the pool is idle (tests and shutdown); True when it is."""
        return self._pool.waitForDone(msecs)

    def _on_finished(self, generation: int, result: Any) -> None:
        if not self.is_current(generation):
            return
        on_done, _ = self._callbacks
        self._callbacks = (None, None)
        self._set_busy(False)
        if on_done is not None:
            on_done(result)

    def _on_failed(self, generation: int, exc: BaseException) -> None:
        if not self.is_current(generation):
            return
        _, on_error = self._callbacks
        self._callbacks = (None, None)
        self._set_busy(False)
        if on_error is None:
            raise exc
        on_error(exc)

    def _set_busy(self, busy: bool) -> None:
        if busy != self._busy:
            self._busy = busy
            self.sig_busy_changed.emit(busy)
