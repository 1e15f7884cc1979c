"""The OpenVINO cache's size cap (models/engine/backends/cache_limit.py)."""

import os

from p2phd.models.engine.backends import cache_limit
from p2phd.models.engine.backends.cache_limit import GRACE_S, limit_bytes, mark_used, prune

NOW = 1_900_000_000.0


def ir_entry(cache, key, size, age_s):
    ir = cache / "ir"
    ir.mkdir(parents=True, exist_ok=True)
    (ir / f"{key}.bin").write_bytes(b"w" * size)
    (ir / f"{key}.lock").touch()
    xml = ir / f"{key}.xml"
    xml.write_text("<net/>")
    os.utime(xml, (NOW - age_s, NOW - age_s))
    return xml


def blob(cache, name, size, age_s):
    path = cache / "blobs" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"b" * size)
    os.utime(path, (NOW - age_s, NOW - age_s))
    return path


def test_the_least_recently_used_go_first_until_the_cache_fits(tmp_path):
    old = ir_entry(tmp_path, "old", 1000, age_s=3 * GRACE_S)
    old_blob = blob(tmp_path, "1.blob", 1000, age_s=2 * GRACE_S)
    newer = ir_entry(tmp_path, "newer", 1000, age_s=1.5 * GRACE_S)
    deleted = prune(tmp_path, limit=1500 + 2 * len("<net/>"), now=NOW)
    assert not old.exists() and not old.with_suffix(".bin").exists() and not old.with_suffix(".lock").exists()
    assert not old_blob.exists()
    assert newer.exists() and newer.with_suffix(".bin").exists()  # the cache fits once the two oldest are gone
    assert len(deleted) == 4


def test_entries_used_recently_stay_whatever_the_cap(tmp_path):
    recent = ir_entry(tmp_path, "recent", 1000, age_s=GRACE_S / 2)
    assert prune(tmp_path, limit=0, now=NOW) == []
    assert recent.exists()


def test_a_conversion_in_progress_is_left_alone(tmp_path):
    ir_entry(tmp_path, "done", 10, age_s=3 * GRACE_S)
    partial = tmp_path / "ir" / "key.1234.tmp.xml"
    partial.write_text("<half/>")
    os.utime(partial, (NOW - 3 * GRACE_S,) * 2)
    prune(tmp_path, limit=0, now=NOW)
    assert partial.exists() and not (tmp_path / "ir" / "done.xml").exists()


def test_mark_used_protects_an_entry(tmp_path):
    xml = ir_entry(tmp_path, "used", 1000, age_s=3 * GRACE_S)
    mark_used(xml)
    assert prune(tmp_path, limit=0) == []


def test_the_cap_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv(cache_limit.ENV_VAR, "0.5")
    assert limit_bytes() == 512 * 1024**2
    monkeypatch.setenv(cache_limit.ENV_VAR, "lots")
    assert limit_bytes() == int(cache_limit.DEFAULT_LIMIT_GB * 1024**3)
    monkeypatch.delenv(cache_limit.ENV_VAR)
    assert limit_bytes() == int(cache_limit.DEFAULT_LIMIT_GB * 1024**3)
