"""Autosave and crash recovery: a recovery ``.p2phd`` written after every committed edit and, during
long edits, every ``interval`` seconds of changes; found again on the next start.

The GUI calls :meth:`Autosaver.tick` from a timer. With ``background=True`` the files are encoded
and written by one worker thread from a snapshot (newest wins), so the UI never waits on the disk.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from p2phd.editor.events import ChangeEvent
from p2phd.editor.project import SUFFIX, project_bytes
from p2phd.editor.styles import StyleTable
from p2phd.models.mapfiles.atomic import PathLike, atomic_write

if TYPE_CHECKING:
    from p2phd.editor.document import Document

DEFAULT_INTERVAL = 5.0


class Autosaver:
    def __init__(
        self,
        document: Document,
        recovery_dir: PathLike,
        interval: float = DEFAULT_INTERVAL,
        name: str = "recovery",
        source: str | None = None,
        background: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if interval <= 0:
            raise ValueError("the autosave interval must be positive")
        self.document = document
        self.interval = float(interval)
        self.source = source
        self.path = Path(recovery_dir) / f"{name}{SUFFIX}"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.saves = 0
        self.last_error: Exception | None = None
        self._clock = clock
        self._dirty_since: float | None = None
        self._unsubscribe = document.subscribe(self._on_change)
        self._cond = threading.Condition()
        self._pending: tuple | None = None
        self._busy = False
        self._closed = False
        self._worker = threading.Thread(target=self._run, name="autosave", daemon=True) if background else None
        if self._worker:
            self._worker.start()

    @property
    def pending(self) -> bool:
        """True when the document has changes the recovery file does not hold yet."""
        return self._dirty_since is not None

    def tick(self) -> bool:
        """Save when changes have waited ``interval`` seconds; call it from a timer. True if it saved."""
        if self._dirty_since is not None and self._clock() - self._dirty_since >= self.interval:
            self.save_now()
            return True
        return False

    def save_now(self) -> None:
        doc = self.document
        snapshot = (doc.label.copy(), doc.instance.copy(), StyleTable(doc.styles.as_mapping()), doc.model_id)
        self._dirty_since = None
        if self._worker is None:
            self._write(snapshot)
            return
        with self._cond:
            self._pending = snapshot
            self._cond.notify_all()

    def flush(self) -> None:
        """Wait until the background worker has written everything handed to it."""
        with self._cond:
            self._cond.wait_for(lambda: self._pending is None and not self._busy)

    def discard(self) -> None:
        """Delete the recovery file (after a normal save or close)."""
        self.flush()
        discard_recovery(self.path)
        self._dirty_since = None

    def close(self, discard: bool = False) -> None:
        self._unsubscribe()
        self.flush()
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        if self._worker:
            self._worker.join()
        if discard:
            discard_recovery(self.path)

    # -- internals --------------------------------------------------------------------------------
    def _on_change(self, event: ChangeEvent) -> None:
        if self._dirty_since is None:
            self._dirty_since = self._clock()
        if event.committed:
            self.save_now()  # kill -9 then loses at most the stroke in progress

    def _write(self, snapshot: tuple) -> None:
        label, inst, styles, model_id = snapshot
        extra = {"recovery": True, "source": self.source, "saved_at": time.time()}
        try:
            atomic_write(self.path, project_bytes(label, inst, styles, model_id, extra))
            self.saves += 1
            self.last_error = None
        except Exception as exc:  # a full disk must not break editing; the GUI shows last_error
            self.last_error = exc

    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._pending is not None or self._closed)
                if self._pending is None:
                    return
                snapshot, self._pending, self._busy = self._pending, None, True
            try:
                self._write(snapshot)
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()


def find_recovery(recovery_dir: PathLike) -> Path | None:
    """The newest recovery project in ``recovery_dir`` (None when there is nothing to recover)."""
    folder = Path(recovery_dir)
    if not folder.is_dir():
        return None
    found = [p for p in folder.glob(f"*{SUFFIX}") if p.is_file() and not p.name.startswith(".")]
    return max(found, key=lambda p: p.stat().st_mtime_ns) if found else None


def discard_recovery(path: PathLike) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
