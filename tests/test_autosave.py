"""Autosave and recovery: the journal of edits between snapshots, undo steps kept across a crash, one
set of files per instance (locks that die with the process), stale temporary files, and real crashes
(subprocesses killed with SIGKILL right after an edit returns, at any pace)."""

import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from p2phd.editor import history_io
from p2phd.editor.autosave import Autosaver, discard_recovery, find_recovery
from p2phd.editor.document import Document
from p2phd.editor.errors import DocumentError
from p2phd.editor.project import read_meta
from p2phd.editor.recovery import claim_dead, journals, load_state

POSIX = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")


class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def recover(folder) -> Document:
    claims = claim_dead(folder)
    assert len(claims) == 1, claims
    try:
        return claims[0].load()
    finally:
        claims[0].release()


def same_state(a: Document, b: Document) -> bool:
    return (
        np.array_equal(a.label, b.label)
        and np.array_equal(a.instance, b.instance)
        and a.styles.to_json() == b.styles.to_json()
    )


def test_commit_is_journaled_and_tick_snapshots_long_strokes(tmp_path):
    doc, clock = Document(32, 16, fill=7), FakeClock()
    saver = Autosaver(doc, tmp_path, interval=5.0, clock=clock)
    assert find_recovery(tmp_path) is None and not saver.tick()
    doc.paint_stroke([(5, 5)], 26, 2)
    assert saver.records == 1 and saver.saves == 0 and not saver.pending
    assert same_state(load_state(tmp_path, saver.stem).to_document(), doc)
    stroke = doc.begin_stroke(23, 1)
    stroke.add_point(20, 3)
    assert saver.pending and not saver.tick()  # changes younger than the interval
    clock.now += 5.0
    assert saver.tick() and saver.saves == 1
    np.testing.assert_array_equal(Document.open_project(saver.path).label, doc.label)  # mid-stroke snapshot
    stroke.commit()
    assert saver.records == 2 and same_state(load_state(tmp_path, saver.stem).to_document(), doc)
    saver.close(discard=True)
    assert find_recovery(tmp_path) is None and os.listdir(tmp_path) == []


def edit_script(doc: Document, i: int) -> None:
    """The i-th edit of a varied session: strokes, style changes, undo and redo."""
    if i % 7 == 6 and doc.history.can_undo:
        doc.undo()
    elif i % 11 == 10 and doc.history.can_redo:
        doc.redo()
    elif i % 5 == 4:
        doc.set_style(26000 + i % 3, i % 4)
    else:
        x, y = 5 + (i * 37) % (doc.width - 10), 5 + (i * 23) % (doc.height - 10)
        doc.paint_stroke([(x, y), (x + 9, y + 4)], (26, 24, 8, 23)[i % 4], 3)


@pytest.mark.parametrize("compact_bytes", [1, 10**9])
def test_recovery_keeps_undo_and_redo_steps(tmp_path, compact_bytes):
    doc = Document(96, 48, fill=7)
    saver = Autosaver(doc, tmp_path, compact_bytes=compact_bytes)
    for i in range(40):
        edit_script(doc, i)
        if i == 20:
            saver.save_now()
    doc.undo()
    doc.undo()
    saver.close()  # no discard: as if the process had died
    back = recover(tmp_path)
    assert same_state(back, doc)
    assert len(back.history.undo_actions) >= 20
    assert back.history.undo_actions == doc.history.undo_actions[-len(back.history.undo_actions) :]
    assert [i.action for i in back.history.redo_items] == [i.action for i in doc.history.redo_items]
    assert back.redo() and doc.redo() and same_state(back, doc)
    while back.undo():  # every recovered step undoes exactly as the original would
        assert doc.undo() and same_state(back, doc)


def test_background_worker_writes_snapshots_and_removes_old_journals(tmp_path):
    doc = Document(32, 16, fill=7)
    saver = Autosaver(doc, tmp_path, background=True, source="/home/me/scene.p2phd", compact_bytes=1)
    for x in range(4, 30, 6):
        doc.paint_stroke([(x, 8)], 26, 2)
    saver.flush()
    assert saver.saves >= 1
    meta = read_meta(saver.path)
    assert meta["extra"]["source"] == "/home/me/scene.p2phd"
    assert all(gen >= meta["extra"]["journal"] for gen, _ in journals(tmp_path, saver.stem))
    saver.close()
    back = recover(tmp_path)
    assert same_state(back, doc) and len(back.history.undo_actions) == 5
    discard_recovery(saver.path)
    assert find_recovery(tmp_path) is None


def test_write_error_is_reported_not_raised_and_the_next_edit_restarts_the_journal(tmp_path):
    doc = Document(8, 8)
    folder = tmp_path / "rec"
    saver = Autosaver(doc, folder)
    for p in folder.iterdir():
        p.unlink()
    folder.rmdir()  # the folder vanished: editing must go on
    doc.paint_stroke([(2, 2)], 26, 1)
    assert isinstance(saver.last_error, OSError)
    folder.mkdir()
    doc.paint_stroke([(5, 5)], 24, 1)
    assert saver.last_error is None
    assert same_state(load_state(folder, saver.stem).to_document(), doc)
    saver.close(discard=True)


def test_an_unwritable_recovery_folder_disables_autosave_instead_of_failing(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_bytes(b"")
    doc = Document(8, 8)
    saver = Autosaver(doc, blocker / "recovery")  # a folder inside a file cannot exist
    assert not saver.enabled and isinstance(saver.last_error, OSError)
    doc.paint_stroke([(2, 2)], 26, 1)
    saver.save_now()
    saver.close(discard=True)
    assert saver.records == 0 and saver.saves == 0


def test_snapshot_in_the_middle_of_an_aborted_stroke_does_not_keep_the_stroke(tmp_path):
    doc, clock = Document(32, 16, fill=7), FakeClock()
    saver = Autosaver(doc, tmp_path, clock=clock)
    doc.paint_stroke([(5, 5)], 26, 2)
    stroke = doc.begin_stroke(23, 3)
    stroke.add_point(20, 8)
    clock.now += 10
    assert saver.tick()  # the snapshot holds half a stroke ...
    stroke.abort()  # ... which is then taken back
    saver.close()
    assert same_state(recover(tmp_path), doc)


def test_torn_or_damaged_journal_tail_keeps_everything_before_it(tmp_path):
    doc = Document(32, 16, fill=7)
    saver = Autosaver(doc, tmp_path)
    doc.paint_stroke([(5, 5)], 26, 2)
    doc.paint_stroke([(15, 5)], 24, 2)
    expected = doc.label.copy()
    doc.paint_stroke([(25, 5)], 23, 2)
    saver.close()
    (gen, path), *_ = journals(tmp_path, saver.stem)
    data = path.read_bytes()
    path.write_bytes(data[:-7])  # killed in the middle of the last record
    np.testing.assert_array_equal(recover(tmp_path).label, expected)
    flipped = bytearray(data)
    flipped[-30] ^= 0xFF  # the last record's bytes no longer match its checksum
    path.write_bytes(bytes(flipped))
    np.testing.assert_array_equal(recover(tmp_path).label, expected)


def test_hostile_record_with_a_valid_checksum_is_a_document_error(tmp_path):
    doc = Document(32, 16, fill=7)
    saver = Autosaver(doc, tmp_path)
    doc.paint_stroke([(5, 5)], 26, 2)
    saver.close()
    (gen, path), *_ = journals(tmp_path, saver.stem)
    with path.open("ab") as fh:  # a tile outside the document, with a correct CRC
        fh.write(history_io.record_bytes("patch", {"rect": [0, 0, 999, 999], "styles": {}}, arrays=[]))
    claims = claim_dead(tmp_path)
    with pytest.raises(DocumentError, match="outside"):
        claims[0].load()
    aside = claims[0].move_aside()
    assert aside.name == "damaged" and any(aside.iterdir())
    assert claim_dead(tmp_path) == []


def test_two_instances_never_touch_each_other(tmp_path):
    doc_a, doc_b = Document(32, 16, fill=7), Document(32, 16, fill=8)
    a, b = Autosaver(doc_a, tmp_path), Autosaver(doc_b, tmp_path)
    assert a.path != b.path
    doc_a.paint_stroke([(5, 5)], 26, 2)
    doc_b.paint_stroke([(9, 9)], 24, 2)
    assert claim_dead(tmp_path) == []  # both alive: nothing to offer, nothing touched
    a.close()  # a "crashes" (its lock goes, its files stay)
    doc_b.paint_stroke([(20, 9)], 24, 2)
    b.discard()  # b saved normally: only b's files go
    claims = claim_dead(tmp_path)
    assert len(claims) == 1 and claims[0].stem == a.stem
    assert claim_dead(tmp_path) == []  # claimed: a second starting editor does not offer it again
    assert same_state(claims[0].load(), doc_a)
    claims[0].discard()
    doc_b.paint_stroke([(25, 9)], 24, 2)
    b.close(discard=True)
    assert os.listdir(tmp_path) == []


def test_stale_temporary_files_of_dead_instances_are_removed(tmp_path):
    doc = Document(16, 16)
    live = Autosaver(doc, tmp_path)
    live_tmp = tmp_path / f".{live.stem}.p2phd.abc123.tmp"
    dead_tmp = tmp_path / ".recovery-999-deadbeef.p2phd.x1y2z3.tmp"
    legacy_tmp = tmp_path / ".recovery.p2phd.qwerty.tmp"
    foreign = tmp_path / "notes.txt"
    for p in (live_tmp, dead_tmp, legacy_tmp, foreign):
        p.write_bytes(b"half a zip")
    assert claim_dead(tmp_path) == []
    assert live_tmp.exists() and foreign.exists()
    assert not dead_tmp.exists() and not legacy_tmp.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([live_tmp.name, foreign.name, f"{live.stem}.lock"])
    live.close(discard=True)


def test_legacy_single_recovery_file_is_offered(tmp_path):
    doc = Document(16, 16, fill=7)
    doc.paint_stroke([(5, 5)], 26, 2)
    doc.save_project(tmp_path / "recovery.p2phd")
    back = recover(tmp_path)
    np.testing.assert_array_equal(back.label, doc.label)


# -- real crashes --------------------------------------------------------------------------------------
CHILD = textwrap.dedent(
    """
    import os, signal, sys, time
    sys.path.insert(0, sys.argv[1])
    from test_autosave import edit_script
    from p2phd.editor.autosave import Autosaver
    from p2phd.editor.document import Document

    folder, n, mode = sys.argv[2], int(sys.argv[3]), sys.argv[4]
    doc = Document(512, 256, fill=7)
    options = {"burst": dict(background=True, interval=0.001), "compact": dict(background=True, compact_bytes=1)}
    saver = Autosaver(doc, folder, **options.get(mode, {}))
    for i in range(n):
        edit_script(doc, i)
    if mode == "wait":
        print("ready", flush=True)
        time.sleep(600)
    if mode == "stroke":
        stroke = doc.begin_stroke(23, 6)  # the stroke in progress when the power goes out
        stroke.add_point(50, 40)
        stroke.add_point(90, 40)
    os.kill(os.getpid(), signal.SIGKILL)
    """
)


def run_child(folder, n, mode):
    args = [sys.executable, "-c", CHILD, os.path.dirname(__file__), str(folder), str(n), mode]
    result = subprocess.run(args, capture_output=True, timeout=300)
    assert result.returncode == -signal.SIGKILL, result.stderr.decode()


def expected_after(n: int) -> Document:
    doc = Document(512, 256, fill=7)
    for i in range(n):
        edit_script(doc, i)
    return doc


@POSIX
@pytest.mark.parametrize("n, mode", [(3, "burst"), (37, "burst"), (60, "compact"), (25, "sync"), (12, "stroke")])
def test_kill_9_right_after_an_edit_loses_at_most_one(tmp_path, n, mode):
    run_child(tmp_path, n, mode)
    back = recover(tmp_path)
    assert same_state(back, expected_after(n)) or same_state(back, expected_after(n - 1))
    assert same_state(back, expected_after(n))  # in fact none: each edit is journaled before it returns
    assert len(back.history.undo_actions) >= min(20, len(expected_after(n).history.undo_actions))
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]


@POSIX
def test_a_running_instance_is_never_offered_and_a_killed_one_once(tmp_path):
    args = [sys.executable, "-c", CHILD, os.path.dirname(__file__), str(tmp_path), "9", "wait"]
    child = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert child.stdout.readline().strip() == b"ready", child.stderr.read().decode()
        before = sorted(os.listdir(tmp_path))
        assert claim_dead(tmp_path) == [] and find_recovery(tmp_path) is None
        assert sorted(os.listdir(tmp_path)) == before  # nothing of the live instance touched
    finally:
        child.kill()
        child.wait(timeout=60)
    claims = claim_dead(tmp_path)
    assert len(claims) == 1 and claim_dead(tmp_path) == []
    assert same_state(claims[0].load(), expected_after(9))
    claims[0].discard()
    assert os.listdir(tmp_path) == []


def test_with_a_worker_the_editing_thread_never_encodes_the_whole_document(tmp_path, monkeypatch):
    """The journal's base record (the whole document) is encoded ahead by the worker, from the state
    the journal starts from: the first edit, and the first after a save, only append it."""
    import threading

    doc = Document(256, 128, fill=7)
    on_editing_thread = []
    encode = history_io.steps_record

    def spy(*args, **kwargs):
        if kwargs.get("op") == "base" and threading.current_thread() is threading.main_thread():
            on_editing_thread.append(kwargs)
        return encode(*args, **kwargs)

    monkeypatch.setattr(history_io, "steps_record", spy)
    saver = Autosaver(doc, tmp_path, background=True, clock=FakeClock())
    doc.paint_stroke([(20, 20)], 26, 4)
    doc.paint_stroke([(60, 30)], 24, 3)
    saver.discard()  # as after a normal save: the next edit starts a new journal
    doc.paint_stroke([(100, 60)], 11, 5)
    doc.undo()
    assert on_editing_thread == [] and saver.last_error is None
    assert saver.records == 2 + 4  # two bases, four edits
    saver.flush()
    assert same_state(load_state(tmp_path, saver.stem).to_document(), doc)
    saver.close()


def test_deferred_steps_are_written_in_order_on_the_next_turn_and_before_any_snapshot(tmp_path):
    """With ``defer`` (the GUI: the event loop's next turn) a commit returns before its step is encoded;
    the steps of one turn are written together, in order, and a snapshot or close writes them first."""
    doc = Document(96, 48, fill=7)
    turns = []  # the callbacks handed to the "event loop"
    saver = Autosaver(doc, tmp_path, defer=turns.append, clock=FakeClock())

    def next_turn():
        while turns:
            turns.pop(0)()

    edit_script(doc, 0)  # the first record holds the whole document: written at once
    assert saver.records == 1 and turns == []
    for i in range(1, 12):  # strokes, styles, an undo and a redo within one turn
        edit_script(doc, i)
    assert saver.records == 1 and len(turns) == 1
    assert not same_state(load_state(tmp_path, saver.stem).to_document(), doc)
    next_turn()
    assert saver.records == 12 and saver.last_error is None
    assert same_state(load_state(tmp_path, saver.stem).to_document(), doc)

    for i in range(12, 20):
        edit_script(doc, i)
    saver.save_now()  # before the turn came: the snapshot supersedes a journal that holds them
    next_turn()  # nothing left to write
    for i in range(20, 24):
        edit_script(doc, i)
    saver.close()  # as if the process had died right after closing
    saves = saver.saves
    next_turn()  # turns that come after close() write nothing
    assert saver.saves == saves
    back = recover(tmp_path)
    assert same_state(back, doc)
    assert back.history.undo_actions == doc.history.undo_actions[-len(back.history.undo_actions) :]
    while back.undo():
        assert doc.undo() and same_state(back, doc)


def test_a_deferred_write_error_is_reported_and_the_next_edit_restarts_the_journal(tmp_path, monkeypatch):
    doc = Document(8, 8)
    turns = []
    saver = Autosaver(doc, tmp_path, defer=turns.append)
    doc.paint_stroke([(1, 1)], 26, 1)  # the base record
    doc.paint_stroke([(2, 2)], 24, 1)
    encode = history_io.record_bytes

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(history_io, "record_bytes", full_disk)
    while turns:  # the turn comes: the write fails, editing goes on
        turns.pop(0)()
    assert isinstance(saver.last_error, OSError) and saver.records == 1
    monkeypatch.setattr(history_io, "record_bytes", encode)
    doc.paint_stroke([(5, 5)], 24, 1)  # restarts the chain with the whole document, at once
    assert saver.last_error is None and turns == [] and saver.records == 2
    assert same_state(load_state(tmp_path, saver.stem).to_document(), doc)
    saver.close(discard=True)


def test_a_snapshot_copies_the_document_without_waiting_for_busy_python_threads(tmp_path, busy_python_thread):
    """save_now runs on the UI thread (timer, compaction): its copies of the maps keep the GIL, or each
    would wait for the worker threads' Python to hand it back (0.5 s here, up to 5 ms x2 in the editor)."""
    import time

    doc = Document(2048, 1024, fill=7)  # 10 MB of maps: numpy's copy lets go of the GIL for them
    doc.paint_stroke([(50, 50)], 26, 9)
    saver = Autosaver(doc, tmp_path, background=True)
    t0 = time.perf_counter()
    saver.save_now()
    elapsed = time.perf_counter() - t0
    busy_python_thread()  # stopped: the worker's encoding needs the GIL too
    saver.flush()
    assert elapsed < 0.25 and saver.saves == 1
    assert same_state(Document.open_project(saver.path), doc)
    saver.close(discard=True)


def test_snapshots_take_the_maps_from_copy_maps_when_given(tmp_path):
    """The GUI passes the render requests' frozen copy of the revision (one 10 MB copy, not two)."""
    from p2phd.models.engine.gil_copy import copy_holding_gil

    doc = Document(64, 32, fill=7)
    calls = []

    def shared_copy():
        calls.append(doc.revision)
        return copy_holding_gil(doc.label), copy_holding_gil(doc.instance)

    saver = Autosaver(doc, tmp_path, background=True, copy_maps=shared_copy)
    assert calls == [0]  # the journal's base, encoded ahead by the worker
    doc.paint_stroke([(10, 10)], 26, 3)
    saver.save_now()
    assert calls == [0, doc.revision]
    saver.close()
    assert same_state(recover(tmp_path), doc)
