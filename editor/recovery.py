"""Crash recovery files, one set per running editor instance, and finding those of dead instances.

Every :class:`~p2phd.editor.autosave.Autosaver` owns a *stem* ``recovery-<pid>-<random>`` in the
recovery folder:

    STEM.lock              held (``flock`` / ``msvcrt.locking``) while the instance runs; the OS
                           drops it when the process dies, also after kill -9
    STEM.p2phd             the last full snapshot: a project with ``history.bin`` (undo steps) and
                           ``extra.journal`` = the journal generation that continues it
    STEM.NNNNNN.journal    the edits after that snapshot, one record per edit, undo or redo
    .STEM.p2phd.*.tmp      a snapshot being written (left behind only when killed mid-save)

:func:`claim_dead` takes the lock of every stem whose owner is gone (a live instance's files are
never opened), removes stale temporary files, and returns one :class:`Recovery` per dead instance
that left work behind. Holding the claim, a starting editor offers it once: recovered or declined,
the files are then deleted; a damaged set is moved into ``damaged/``. Two editors starting at the
same time never offer the same recovery (the second finds it locked).
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from p2phd.editor import history_io
from p2phd.editor.errors import DocumentError
from p2phd.editor.project import SUFFIX, read_member, read_project, thumbnail
from p2phd.editor.styles import StyleTable
from p2phd.models.mapfiles.atomic import PathLike

if TYPE_CHECKING:
    from p2phd.editor.document import Document

PREFIX = "recovery"
LOCK_SUFFIX = ".lock"
JOURNAL_SUFFIX = ".journal"
DAMAGED = "damaged"
_STEM = re.compile(r"^[A-Za-z0-9_-]+$")


# -- instance locks ------------------------------------------------------------------------------------
class InstanceLock:
    """An exclusive, non-blocking lock on a file, released by the OS when the process dies."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd: int | None = fd

    @classmethod
    def try_acquire(cls, path: PathLike) -> InstanceLock | None:
        """The lock, or None when another open file (this process or another) holds it."""
        path = Path(path)
        for _ in range(5):
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
            if not _lock_fd(fd):
                os.close(fd)
                return None
            try:  # the file may have been unlinked by its last owner between our open and our lock
                same = os.path.samestat(os.fstat(fd), os.stat(path))
            except FileNotFoundError:
                same = False
            if same:
                with contextlib.suppress(OSError):
                    os.ftruncate(fd, 0)
                    os.write(fd, f"{os.getpid()}\n".encode())
                return cls(path, fd)
            os.close(fd)
        return None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def release(self, unlink: bool = False) -> None:
        if self._fd is None:
            return
        if unlink:  # unlink while still holding it: nobody can take a lock on a file about to vanish
            with contextlib.suppress(OSError):
                os.unlink(self.path)
        os.close(self._fd)
        self._fd = None


if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
    import msvcrt

    def _lock_fd(fd: int) -> bool:
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

else:
    import fcntl

    def _lock_fd(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except (BlockingIOError, PermissionError):
            return False
        return True


# -- names -----------------------------------------------------------------------------------------------
def new_stem(prefix: str = PREFIX) -> str:
    return f"{prefix}-{os.getpid()}-{secrets.token_hex(4)}"


def snapshot_path(folder: Path, stem: str) -> Path:
    return folder / f"{stem}{SUFFIX}"


def journal_path(folder: Path, stem: str, generation: int) -> Path:
    return folder / f"{stem}.{generation:06d}{JOURNAL_SUFFIX}"


def lock_path(folder: Path, stem: str) -> Path:
    return folder / f"{stem}{LOCK_SUFFIX}"


def journals(folder: Path, stem: str) -> list[tuple[int, Path]]:
    """(generation, path) of a stem's journals, oldest first."""
    found = []
    for path in folder.glob(f"{stem}.*{JOURNAL_SUFFIX}"):
        middle = path.name[len(stem) + 1 : -len(JOURNAL_SUFFIX)]
        if middle.isdigit():
            found.append((int(middle), path))
    return sorted(found)


def stem_files(folder: Path, stem: str) -> list[Path]:
    """The snapshot, journals and stale temporary files of a stem (not its lock)."""
    files = [p for _, p in journals(folder, stem)]
    snap = snapshot_path(folder, stem)
    if snap.exists():
        files.append(snap)
    files += [p for p in folder.glob(f".{stem}{SUFFIX}.*.tmp")]
    return files


def _stem_of(name: str) -> str | None:
    """The stem a file in the recovery folder belongs to (None for foreign files)."""
    if name.startswith(".") and name.endswith(".tmp"):
        name = name[1:]
    stem = name.split(".", 1)[0]
    rest = name[len(stem) :]
    ours = rest in (SUFFIX, LOCK_SUFFIX) or rest.endswith((JOURNAL_SUFFIX, ".tmp"))
    return stem if ours and _STEM.match(stem) else None


# -- dead instances ----------------------------------------------------------------------------------------
class Recovery:
    """The work a dead instance left behind, claimed (locked) by this process until released."""

    def __init__(self, folder: Path, stem: str, lock: InstanceLock) -> None:
        self.folder = folder
        self.stem = stem
        self._lock = lock
        self.saved_at: float | None = None  # Unix time of the newest saved edit (after load())
        self.source: str | None = None  # the file the work came from, if any
        self.steps = 0  # undo steps that come back
        self.thumbnail: np.ndarray | None = None  # RGB, at most 256 pixels wide (after load())

    @property
    def path(self) -> Path:
        return snapshot_path(self.folder, self.stem)

    @property
    def mtime(self) -> float:
        times = [p.stat().st_mtime for p in stem_files(self.folder, self.stem) if p.exists()]
        return max(times, default=0.0)

    def load(self) -> Document:
        """The recovered document with its undo steps; a damaged set raises DocumentError."""
        state = load_state(self.folder, self.stem)
        if state is None:
            raise DocumentError(f"the recovery {self.stem} holds no edit")
        doc = state.to_document()
        self.saved_at, self.source, self.steps = state.time, state.source, len(doc.history.undo_items)
        self.thumbnail = thumbnail(doc.label)
        return doc

    def discard(self) -> None:
        """Delete the files (after they were recovered or declined)."""
        for path in stem_files(self.folder, self.stem):
            with contextlib.suppress(OSError):
                os.unlink(path)
        self._lock.release(unlink=True)

    def move_aside(self) -> Path:
        """Move the files into ``damaged/`` (kept for inspection, never offered again)."""
        target = self.folder / DAMAGED
        target.mkdir(exist_ok=True)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        for path in stem_files(self.folder, self.stem):
            with contextlib.suppress(OSError):
                os.replace(path, target / f"{stamp}-{path.name.lstrip('.')}")
        self._lock.release(unlink=True)
        return target

    def release(self) -> None:
        """Let go of the claim, files untouched (offered again at the next start)."""
        self._lock.release()


def load_state(folder: PathLike, stem: str) -> history_io.RecoveredState | None:
    """Snapshot + journals of a stem replayed (None when nothing was saved)."""
    folder = Path(folder)
    state: history_io.RecoveredState | None = None
    first_gen = 0
    snap = snapshot_path(folder, stem)
    if snap.exists():
        label, inst, styles, meta = read_project(snap)
        extra = meta.get("extra") if isinstance(meta.get("extra"), dict) else {}
        undo, redo = [], []
        height, width = label.shape
        pixels = width * height  # the steps can need no more than the document implies
        cap = min(history_io.STEPS_MAX_BYTES, history_io.MAX_STEPS * 10 * pixels) + 10 * pixels + 2**20
        steps = read_member(snap, "history.bin", cap)
        if steps is not None:
            undo, redo = history_io.read_steps(steps, width, height)
        state = history_io.RecoveredState(label, inst, styles, undo, redo, meta["model_id"])
        saved = extra.get("saved_at")
        state.time = float(saved) if isinstance(saved, (int, float)) and not isinstance(saved, bool) else None
        state.source = extra.get("source") if isinstance(extra.get("source"), str) else None
        gen = extra.get("journal")
        first_gen = gen if type(gen) is int else 0
    for gen, path in journals(folder, stem):
        if gen < first_gen:
            continue
        with open(path, "rb") as fh:
            state = _replay(fh, state)
    return state


def _replay(fh, state: history_io.RecoveredState | None) -> history_io.RecoveredState | None:
    if state is None:  # no snapshot yet: the journal starts with a base record (the whole document)
        records = history_io.read_records(fh, None, None)
        first = next(records, None)
        if first is None:
            return None
        w, h = first.head["width"], first.head["height"]
        state = history_io.RecoveredState(np.zeros((h, w), np.uint8), np.zeros((h, w), np.int32), StyleTable())
        source = first.head.get("source")
        state.source = source if isinstance(source, str) else None
        state.apply(first)
    else:
        records = history_io.read_records(fh, state.width, state.height)
    for record in records:
        state.apply(record)
    return state


def claim_dead(recovery_dir: PathLike) -> list[Recovery]:
    """Claim every dead instance's recovery (newest first) and clean up stale temporary files.

    Live instances' files are never opened, moved or deleted. Release or discard each claim."""
    folder = Path(recovery_dir)
    if not folder.is_dir():
        return []
    stems = {_stem_of(p.name) for p in folder.iterdir() if p.is_file()} - {None}
    claims = []
    for stem in sorted(stems):
        lock = InstanceLock.try_acquire(lock_path(folder, stem))
        if lock is None:
            continue  # a live instance: not ours to touch
        for path in folder.glob(f".{stem}{SUFFIX}.*.tmp"):  # a save cut short by a crash
            with contextlib.suppress(OSError):
                os.unlink(path)
        if snapshot_path(folder, stem).exists() or journals(folder, stem):
            claims.append(Recovery(folder, stem, lock))
        else:
            lock.release(unlink=True)  # only a lock (and temporary files) was left
    claims.sort(key=lambda c: c.mtime, reverse=True)
    return claims
