"""Atomic writes: a file holds either its old content or all of the new one, never a part.

:func:`atomic_write_many` extends this to a set of files that only make sense together (a label map
and its instance map, a bundle's clusters and object library): every file is first written to a
temporary sibling, and only when all of them are on disk are they renamed over the targets. If a
write or a rename fails, the targets renamed so far get their old content back, so the previous set
is intact. (A crash between two renames, a window of microseconds, can still leave a mixed set.)

For every target:

- a symlink is written *through*: its target file gets the new content, the link stays;
- an existing file keeps its permission bits; a new file gets the usual ``0666 & ~umask``;
- temporary files are named ``.NAME.XXXXXXXX.tmp`` beside the target (one folder, one file system).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import stat
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import BinaryIO

PathLike = str | os.PathLike
#: the new content: bytes, or a function that writes it into an open binary file
Content = bytes | Callable[[BinaryIO], object]


def atomic_write(path: PathLike, content: Content) -> Path:
    """Replace ``path`` with ``content`` atomically; returns the file written (a symlink's target)."""
    return atomic_write_many({path: content})[0]


def atomic_write_many(files: Mapping[PathLike, Content]) -> list[Path]:
    """Replace every file of ``files`` as a set (see the module docstring); returns the files written."""
    targets = [resolve_target(p) for p in files]
    if len(set(targets)) != len(targets):
        raise ValueError(f"the same file is named twice in one write: {', '.join(map(str, targets))}")
    temps: list[Path] = []
    try:
        for target, content in zip(targets, files.values()):
            temps.append(_write_temp(target, content))
        _replace_all(list(zip(temps, targets)))
    finally:
        for tmp in temps:
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
    for folder in {t.parent for t in targets}:
        _fsync_dir(folder)
    return targets


def resolve_target(path: PathLike) -> Path:
    """The file a write to ``path`` replaces: symlinks followed, so the link itself is kept."""
    return Path(os.path.realpath(path))


def temp_name(target: Path, suffix: str = ".tmp") -> Path:
    return target.with_name(f".{target.name}.{secrets.token_hex(4)}{suffix}")


def _create_exclusive(target: Path, suffix: str) -> tuple[int, Path]:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    while True:
        tmp = temp_name(target, suffix)
        try:
            return os.open(tmp, flags, 0o666), tmp  # 0666 & ~umask, as for any new file
        except FileExistsError:
            continue


def _write_temp(target: Path, content: Content) -> Path:
    fd, tmp = _create_exclusive(target, ".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            if callable(content):
                content(fh)
            else:
                fh.write(content)
            fh.flush()
            os.fsync(fh.fileno())
        with contextlib.suppress(FileNotFoundError):
            os.chmod(tmp, stat.S_IMODE(os.stat(target).st_mode))  # keep an existing file's permissions
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    return tmp


def _backup(target: Path) -> Path | None:
    """A second name for ``target``'s current content (a hard link, else a copy), or None if it is new."""
    if not target.exists():
        return None
    backup = temp_name(target, ".bak")
    try:
        os.link(target, backup)
    except OSError:  # a file system without hard links
        shutil.copy2(target, backup)
    return backup


def _replace_all(pairs: list[tuple[Path, Path]]) -> None:
    if len(pairs) == 1:
        os.replace(*pairs[0])
        return
    done: list[tuple[Path, Path | None]] = []
    try:
        for tmp, target in pairs:
            backup = _backup(target)
            try:
                os.replace(tmp, target)
            except BaseException:
                if backup is not None:
                    backup.unlink(missing_ok=True)
                raise
            done.append((target, backup))
    except BaseException:
        for target, backup in reversed(done):  # put the previous set back
            with contextlib.suppress(OSError):
                if backup is None:
                    target.unlink()
                else:
                    os.replace(backup, target)
        raise  # a backup whose restore failed stays on disk: the old content is never deleted
    for _, backup in done:
        if backup is not None:
            with contextlib.suppress(OSError):
                backup.unlink()


def _fsync_dir(folder: Path) -> None:
    """Make the renames durable (POSIX; a no-op where folders cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
