"""A cap on the OpenVINO cache's size: the least recently used conversions go first.

Every model and document size leaves an IR (``<cache>/ir``: label2city_1024p at 2048x1024 is ~730 MB) and
OpenVINO's compiled blob of it (``<cache>/blobs``, as large again). Nothing ever removed them: a user who
opened a few sizes and models carried gigabytes, and on the machine this was found on a full disk made the
next conversion fail (the editor fell back to eager frames). After each successful preparation the
oldest entries are deleted until the cache fits ``$P2PHD_CACHE_LIMIT_GB`` (default 8). An IR counts as
used when it is compiled (its .xml's mtime is touched then); a blob by its own mtime (OpenVINO rewrites it
only when it recompiles). Entries used in the last :data:`GRACE_S` seconds stay whatever the cap: another
editor may be compiling from them.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

ENV_VAR = "P2PHD_CACHE_LIMIT_GB"
DEFAULT_LIMIT_GB = 8.0
GRACE_S = 600.0


def limit_bytes() -> int:
    """The cap from ``$P2PHD_CACHE_LIMIT_GB`` (a number of GB; unset, empty or invalid: the default)."""
    try:
        gb = float(os.environ.get(ENV_VAR, "") or DEFAULT_LIMIT_GB)
    except ValueError:
        gb = DEFAULT_LIMIT_GB
    return int(max(gb, 0.0) * 1024**3)


def mark_used(xml: Path) -> None:
    """Record that the IR ``xml`` was just used (its mtime), so it is the last to go."""
    os.utime(xml)


def _entries(cache_dir: Path) -> list[tuple[float, int, list[Path]]]:
    """(last use, bytes, files) of each IR (its .xml, .bin and .lock) and each compiled blob."""
    entries = []
    ir = cache_dir / "ir"
    for xml in ir.glob("*.xml") if ir.is_dir() else ():
        if xml.name.count(".") > 1:  # a conversion's partial output (NAME.PID.tmp.xml): its owner's business
            continue
        files = [xml, xml.with_suffix(".bin"), xml.with_suffix(".lock")]
        entries.append((xml.stat().st_mtime, sum(f.stat().st_size for f in files if f.exists()), files))
    blobs = cache_dir / "blobs"
    for blob in blobs.iterdir() if blobs.is_dir() else ():
        if blob.is_file():
            stat = blob.stat()
            entries.append((stat.st_mtime, stat.st_size, [blob]))
    return entries


def prune(cache_dir: Path, limit: int | None = None, now: float | None = None) -> list[Path]:
    """Delete the least recently used IRs and blobs under ``cache_dir`` until it holds at most ``limit`` bytes
    (default :func:`limit_bytes`), never one used in the last :data:`GRACE_S` s; returns the files deleted."""
    limit = limit_bytes() if limit is None else limit
    now = time.time() if now is None else now
    entries = sorted(_entries(cache_dir), key=lambda entry: entry[0])
    total = sum(size for _, size, _ in entries)
    deleted = []
    for used, size, files in entries:
        if total <= limit or now - used < GRACE_S:
            break
        for f in files:
            try:
                f.unlink()
                deleted.append(f)
            except FileNotFoundError:
                pass  # another process pruned it first
        total -= size
    return deleted
