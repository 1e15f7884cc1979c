"""Autosave and crash recovery: every committed edit, undo and redo is appended to a journal as it
happens, and full snapshots (a recovery ``.p2phd`` with the last undo steps) are written from time
to time so that the journal stays short. A kill -9 loses at most the stroke in progress, at any
pace of editing (with ``defer``, also one committed in the same turn of the event loop: see below).

Each instance writes its own files, named after a locked stem (see :mod:`p2phd.editor.recovery`):
two editors never overwrite or delete each other's recovery, and a starting editor only offers the
work of instances that are gone.

Journal records are written synchronously by the thread that edits (they hold the edit's delta,
compressed: usually kilobytes; the OS keeps them across a crash of the process). With ``defer`` (the
GUI passes "on the next turn of the event loop") an undo step's record is encoded and written just
after the event that made it, so a released stroke reaches the screen first (encoding a long stroke
takes ~3 ms); a kill -9 then loses at most the stroke in progress or one released in the same turn of
the event loop. Records that hold the document's state (a base, a patch) are never deferred. Snapshots are
encoded and written by one worker thread when ``background=True`` (newest wins), so the UI never
waits for PNG encoding or ``fsync``. A journal starts with a base record (the whole document:
~25 ms to compress at 2048 x 1024); with ``background=True`` the worker encodes it ahead, from a
copy of the state the journal starts from, so the first edit only appends it. The GUI calls
:meth:`Autosaver.tick` from a timer: a stroke held open for ``interval`` seconds is snapshotted too.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from p2phd.editor import history_io
from p2phd.editor.events import ChangeEvent
from p2phd.editor.project import project_bytes
from p2phd.editor.recovery import (
    PREFIX,
    InstanceLock,
    claim_dead,
    journal_path,
    journals,
    lock_path,
    new_stem,
    snapshot_path,
    stem_files,
)
from p2phd.editor.styles import StyleTable
from p2phd.models.engine.gil_copy import copy_holding_gil
from p2phd.models.mapfiles.atomic import PathLike, atomic_write

if TYPE_CHECKING:
    from p2phd.editor.document import Document
    from p2phd.editor.history import HistoryItem

DEFAULT_INTERVAL = 5.0
#: Undo and redo steps kept in a recovery (each side), within the history's memory cap.
HISTORY_STEPS = history_io.MAX_STEPS // 2
#: Journal bytes after which a snapshot is due (it then replaces the journal).
COMPACT_BYTES = 8 * 2**20


class Autosaver:
    def __init__(
        self,
        document: Document,
        recovery_dir: PathLike,
        interval: float = DEFAULT_INTERVAL,
        name: str = PREFIX,
        source: str | None = None,
        background: bool = False,
        clock: Callable[[], float] = time.monotonic,
        steps: int = HISTORY_STEPS,
        compact_bytes: int = COMPACT_BYTES,
        defer: Callable[[Callable[[], None]], None] | None = None,
        copy_maps: Callable[[], tuple[np.ndarray, np.ndarray]] | None = None,
    ) -> None:
        if interval <= 0:
            raise ValueError("the autosave interval must be positive")
        self.document = document
        self.interval = float(interval)
        self.source = source
        self.steps = int(steps)
        self.compact_bytes = int(compact_bytes)
        self.folder = Path(recovery_dir)
        self.last_error: Exception | None = None
        self._lock: InstanceLock | None = None
        self.stem = new_stem(name)
        try:  # an unwritable recovery folder must not stop the editor: it then runs without autosave
            self.folder.mkdir(parents=True, exist_ok=True)
            while self._lock is None:
                self._lock = InstanceLock.try_acquire(lock_path(self.folder, self.stem))
                self.stem = self.stem if self._lock else new_stem(name)
        except OSError as exc:
            self.last_error = exc
        self.path = snapshot_path(self.folder, self.stem)
        self.saves = 0  # snapshots written
        self.records = 0  # journal records written
        self._clock = clock
        self._dirty_since: float | None = None
        self._generation = 0
        self._journal_fd: int | None = None
        self._journal_bytes = 0  # since the last snapshot was handed over
        self._need_base = True  # the journal needs the whole document before any delta
        self._last_snapshot = clock()
        self._tops = self._history_tops()
        self._defer = defer
        # read-only copies of (label, instance) as they are now; the GUI shares the render requests' copy
        # of the same revision instead of copying 10 MB again (2048 x 1024)
        self._copy_maps = copy_maps or self._own_copies
        self._steps: list[tuple[str, HistoryItem, float]] = []  # classified, waiting for _write_steps
        self._unsubscribe = document.subscribe(self._on_change)
        self._cond = threading.Condition()
        self._pending: tuple | None = None
        self._base_job: _PreparedBase | None = None  # a base record for the worker to encode
        self._prepared: _PreparedBase | None = None  # the base the next journal record may start from
        self._busy = False
        self._closed = False
        self._worker = threading.Thread(target=self._run, name="autosave", daemon=True) if background else None
        if self._worker:
            self._worker.start()
            self._prepare_base()

    @property
    def pending(self) -> bool:
        """True when the document has changes the recovery files do not hold yet (a stroke is open)."""
        return self._dirty_since is not None

    def tick(self) -> bool:
        """Call it from a timer: snapshots a stroke held open for ``interval`` seconds, and a journal
        that has waited ``interval`` seconds since the last snapshot. True if it saved."""
        self._settle()
        now = self._clock()
        if self._dirty_since is not None and now - self._dirty_since >= self.interval:
            self.save_now()
            return True
        if self._journal_bytes and now - self._last_snapshot >= self.interval and self._idle():
            self.save_now()
            return True
        return False

    @property
    def enabled(self) -> bool:
        """False when the recovery folder could not be created or locked (see ``last_error``)."""
        return self._lock is not None

    def save_now(self) -> None:
        """A full snapshot of the document now (by the worker when ``background``)."""
        if not self.enabled:
            return
        self._settle()  # the snapshot supersedes the journal: it must hold them first
        doc = self.document
        undo, redo = self._kept_steps()
        self._close_journal()
        self._generation += 1  # edits from now on continue this snapshot
        snapshot = (
            *self._copy_maps(),
            StyleTable(doc.styles.as_mapping()),
            doc.model_id,
            undo,
            redo,
            self._generation,
        )
        self._dirty_since = None
        self._journal_bytes = 0
        self._last_snapshot = self._clock()
        if self._worker is None:
            self._write(snapshot)
            return
        with self._cond:
            self._pending = snapshot
            self._cond.notify_all()

    def flush(self) -> None:
        """Write the deferred records, then wait until the worker has written everything handed to it."""
        self._settle()
        with self._cond:
            self._cond.wait_for(self._worker_idle)

    def discard(self) -> None:
        """Delete this instance's recovery files (after a normal save); the lock stays held."""
        self.flush()
        self._close_journal()
        if self.enabled:
            self._delete_files()
        self._generation += 1
        self._need_base = True
        self._journal_bytes = 0
        self._dirty_since = None
        self._prepare_base()

    def close(self, discard: bool = False) -> None:
        """Stop; ``discard`` deletes the files, else they stay for the next start to recover."""
        self._unsubscribe()
        self.flush()
        self._defer = None
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        if self._worker:
            self._worker.join()
        self._close_journal()
        if discard and self.enabled:
            self._delete_files()
        if self._lock is not None:
            self._lock.release(unlink=discard)

    # -- the journal --------------------------------------------------------------------------------
    def _on_change(self, event: ChangeEvent) -> None:
        if not self.enabled:
            return
        if not event.committed:
            if self._dirty_since is None:
                self._dirty_since = self._clock()
            return
        self._dirty_since = None
        try:
            self._journal(event)
        except Exception as exc:  # a full disk must not break editing; the GUI shows last_error
            self._broken(exc)
            return
        if not self._steps:
            self._maybe_compact()

    def _maybe_compact(self) -> None:
        if self._closed:  # a deferred call that came after close()
            return
        if self._journal_bytes >= self.compact_bytes or (
            self._worker is not None and self._clock() - self._last_snapshot >= self.interval and self._idle()
        ):
            self.save_now()

    def _broken(self, exc: Exception) -> None:
        self.last_error = exc
        self._close_journal()
        self._steps.clear()
        self._need_base = True  # the chain is broken: the next record restarts it whole

    def _step(self, op: str, item: HistoryItem, now: float) -> None:
        """Journal one undo step (an immutable item): now, or on the deferred turn."""
        if self._defer is None:
            self._append(history_io.record_bytes(op, {"time": now}, items=[item]))
            return
        self._steps.append((op, item, now))
        if len(self._steps) == 1:
            self._defer(self._deferred)

    def _deferred(self) -> None:
        if self._steps:
            self._settle()
            if self._defer is not None:
                self._defer(self._maybe_compact)  # a snapshot's copies on a turn of their own

    def _settle(self) -> None:
        """Write the deferred steps now (before a snapshot, a flush, a close); a failure breaks the chain."""
        try:
            self._write_steps()
        except Exception as exc:  # a full disk must not break editing; the GUI shows last_error
            self._broken(exc)

    def _write_steps(self) -> None:
        """Encode and append the deferred steps, in order (before anything else is appended)."""
        while self._steps:
            op, item, now = self._steps.pop(0)
            self._append_now(history_io.record_bytes(op, {"time": now}, items=[item]))

    def _journal(self, event: ChangeEvent) -> None:
        tops = self._history_tops()
        old_tops = old_undo, old_redo = self._tops
        now = time.time()
        prepared, self._prepared = self._prepared, None
        if self._need_base and event.kind != "document" and prepared is not None and prepared.holds(old_tops):
            # the state before this edit, encoded ahead by the worker: the delta below continues it
            base = prepared.wait()
            if base is not None:
                self._new_generation()
                self._append(base)
        data = None
        if self._need_base or event.kind == "document":
            data = self._base_record(now)
        elif tops[0] is not None and tops[0] is old_redo and tops[1] is not old_redo:
            self._step("redo", tops[0], now)
        elif tops[1] is not None and tops[1] is old_undo and tops[0] is not old_undo:
            self._step("undo", tops[1], now)
        elif tops[0] is not None and tops[0] is not old_undo and tops[1] is None:
            self._step("push", tops[0], now)
        elif tops[0] is old_undo and tops[1] is old_redo:  # no step (an aborted stroke, a stroke that changed nothing)
            data = self._patch_record(event, now) if not event.rect.empty or event.kind == "styles" else None
        else:  # a history change this journal does not know: write the whole state
            data = self._base_record(now)
        if data is not None:
            self._append(data)
        self._tops = tops
        self.last_error = None

    def _base_record(self, now: float) -> bytes:
        doc = self.document
        undo, redo = self._kept_steps()
        head = self._base_head(now)
        self._new_generation()
        return history_io.steps_record(undo, redo, op="base", arrays=[doc.label, doc.instance], **head)

    def _base_head(self, now: float) -> dict:
        doc = self.document
        return {
            "time": now,
            "width": doc.width,
            "height": doc.height,
            "styles": doc.styles.to_json(),
            "model_id": doc.model_id,
            "source": self.source,
        }

    def _new_generation(self) -> None:
        self._write_steps()  # they continue the journal that ends here
        self._close_journal()
        self._generation += 1  # a base starts a journal of its own
        self._need_base = False

    def _prepare_base(self) -> None:
        """Have the worker encode the base record of the state now (copied: ~3 ms at 2048 x 1024)."""
        if self._worker is None or not self.enabled or self._closed:
            return
        undo, redo = self._kept_steps()
        job = _PreparedBase(
            self._history_tops(),
            (undo, redo, list(self._copy_maps()), self._base_head(time.time())),
        )
        with self._cond:
            self._prepared = self._base_job = job
            self._cond.notify_all()

    def _own_copies(self) -> tuple[np.ndarray, np.ndarray]:
        doc = self.document  # copies that keep the GIL: numpy's could wait ~20 ms for it to come back
        return copy_holding_gil(doc.label), copy_holding_gil(doc.instance)

    def _patch_record(self, event: ChangeEvent, now: float) -> bytes:
        doc = self.document
        rect = event.rect.clip(doc.width, doc.height)
        head = {"time": now, "rect": [rect.x0, rect.y0, rect.x1, rect.y1], "styles": doc.styles.to_json()}
        return history_io.record_bytes("patch", head, arrays=[doc.label[rect.slices], doc.instance[rect.slices]])

    def _append(self, data: bytes) -> None:
        self._write_steps()  # records keep the order of the edits
        self._append_now(data)

    def _append_now(self, data: bytes) -> None:
        if self._journal_fd is None:
            path = journal_path(self.folder, self.stem, self._generation)
            self._journal_fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        view = memoryview(data)
        while view:
            view = view[os.write(self._journal_fd, view) :]
        self._journal_bytes += len(data)
        self.records += 1

    def _close_journal(self) -> None:
        if self._journal_fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._journal_fd)
            self._journal_fd = None

    def _history_tops(self) -> tuple[HistoryItem | None, HistoryItem | None]:
        history = self.document.history
        undo_items, redo_items = history.undo_items, history.redo_items
        return (undo_items[-1] if undo_items else None, redo_items[-1] if redo_items else None)

    def _kept_steps(self) -> tuple[list[HistoryItem], list[HistoryItem]]:
        """The newest undo and redo steps that fit the recovery's budget (newest first kept)."""
        history = self.document.history
        budget = history_io.STEPS_MAX_BYTES

        def newest(items: list[HistoryItem]) -> list[HistoryItem]:
            nonlocal budget
            kept = []
            for item in reversed(items[-self.steps :] if self.steps > 0 else []):
                size = item.old_label.size * 10  # label + instance, old + new
                if size > budget:
                    break
                budget -= size
                kept.append(item)
            return kept[::-1]

        undo = newest(history.undo_items)
        return undo, newest(history.redo_items)

    # -- snapshots ------------------------------------------------------------------------------------
    def _idle(self) -> bool:
        return self._worker is None or self._worker_idle()

    def _worker_idle(self) -> bool:
        return self._pending is None and self._base_job is None and not self._busy

    def _write(self, snapshot: tuple) -> None:
        label, inst, styles, model_id, undo, redo, generation = snapshot
        extra = {"recovery": True, "source": self.source, "saved_at": time.time(), "journal": generation}
        try:
            steps = history_io.steps_record(undo, redo)
            atomic_write(self.path, project_bytes(label, inst, styles, model_id, extra, {"history.bin": steps}))
        except Exception as exc:  # a full disk must not break editing; the GUI shows last_error
            self.last_error = exc
            return
        self.saves += 1
        self.last_error = None
        for gen, path in journals(self.folder, self.stem):  # the snapshot holds their edits now
            if gen < generation:
                with contextlib.suppress(OSError):
                    os.unlink(path)

    def _delete_files(self) -> None:
        for path in stem_files(self.folder, self.stem):
            with contextlib.suppress(OSError):
                os.unlink(path)

    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._pending is not None or self._base_job is not None or self._closed)
                if self._base_job is not None:
                    job, snapshot, self._base_job = self._base_job, None, None
                elif self._pending is not None:
                    job, snapshot, self._pending = None, self._pending, None
                else:
                    return
                self._busy = True
            try:
                if job is not None:
                    job.encode()
                else:
                    self._write(snapshot)
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()


class _PreparedBase:
    """A base record encoded by the worker; ``tops`` names the history state it holds."""

    def __init__(self, tops: tuple, state: tuple) -> None:
        self.tops = tops
        self._state: tuple | None = state
        self._data: bytes | None = None
        self._done = threading.Event()

    def holds(self, tops: tuple) -> bool:
        return all(a is b for a, b in zip(self.tops, tops))

    def encode(self) -> None:
        try:
            undo, redo, arrays, head = self._state
            self._data = history_io.steps_record(undo, redo, op="base", arrays=arrays, **head)
        except Exception:  # the editing thread then writes the base itself
            self._data = None
        finally:
            self._state = None
            self._done.set()

    def wait(self) -> bytes | None:
        """The record's bytes (waits for the worker if it is still encoding); None if it failed."""
        self._done.wait()
        return self._data


def find_recovery(recovery_dir: PathLike) -> Path | None:
    """The snapshot of the newest recovery left by a dead instance (None when there is none).

    A quick look for scripts and tests; the editor uses :func:`p2phd.editor.recovery.claim_dead`."""
    claims = claim_dead(recovery_dir)
    for claim in claims:
        claim.release()
    return claims[0].path if claims else None


def discard_recovery(path: PathLike) -> None:
    """Delete a recovery snapshot and its journals (a dead instance's, or a legacy single file)."""
    path = Path(path)
    stem = path.name.removesuffix(path.suffix)
    for file in [path, *stem_files(path.parent, stem)]:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(file)
