"""Latest-wins scheduling: one worker thread, only the newest pending request survives.

A request submitted while another is pending supersedes it (its dirty area is merged in, so the
engine still re-encodes everything that changed). A result whose revision is older than the newest
submitted one is dropped instead of delivered. The engine may receive a ``should_cancel`` callable
and check it between stages; cancelled runs deliver nothing.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from p2phd.models.engine.request import EngineRequest, EngineResult

ResultCallback = Callable[[EngineResult], None]
ErrorCallback = Callable[[EngineRequest, BaseException], None]


class RunCancelledError(Exception):
    """Raised by an engine stage when ``should_cancel()`` turned true; the run is abandoned."""


class LatestWinsScheduler:
    """Feeds ``run(request, should_cancel)`` from one worker thread; callbacks run on that thread."""

    def __init__(
        self,
        run: Callable[[EngineRequest, Callable[[], bool]], EngineResult],
        on_result: ResultCallback,
        on_error: ErrorCallback | None = None,
        name: str = "p2phd-engine",
    ):
        self._run = run
        self._on_result = on_result
        self._on_error = on_error
        self._cond = threading.Condition()
        self._pending: EngineRequest | None = None
        self._newest_revision: int | None = None
        self._busy = False
        self._closed = False
        self.dropped = 0  # results discarded as stale or cancelled (for tests and status bars)
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    def submit(self, request: EngineRequest) -> None:
        with self._cond:
            if self._closed:
                raise RuntimeError("scheduler is closed")
            if self._pending is not None:
                request = request.superseding(self._pending)
                self.dropped += 1
            self._pending = request
            self._newest_revision = request.revision
            self._cond.notify_all()

    def _is_stale(self, revision: int) -> bool:
        with self._cond:
            return self._closed or (self._newest_revision is not None and revision < self._newest_revision)

    def _loop(self) -> None:
        while True:
            with self._cond:
                while self._pending is None and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return
                request, self._pending = self._pending, None
                self._busy = True
            result = None
            try:
                result = self._run(request, lambda r=request.revision: self._is_stale(r))
            except RunCancelledError:
                pass
            except Exception as exc:  # the worker must survive a failed request
                if self._on_error is not None and not self._is_stale(request.revision):
                    self._on_error(request, exc)
                    request = None
            if result is not None and not self._is_stale(result.revision):
                self._on_result(result)
            elif request is not None:  # stale or cancelled: nothing reaches the caller
                with self._cond:
                    self.dropped += 1
            with self._cond:
                self._busy = False
                self._cond.notify_all()

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until nothing is pending or running (True), or the timeout passes (False)."""
        with self._cond:
            return self._cond.wait_for(lambda: self._closed or (self._pending is None and not self._busy), timeout)

    def close(self, timeout: float | None = 5.0) -> None:
        with self._cond:
            self._closed = True
            self._pending = None
            self._cond.notify_all()
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout)
