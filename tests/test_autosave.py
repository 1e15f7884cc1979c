"""Autosave and recovery: debounced saves with a fake clock, saves on commit, the background worker,
and a real crash (a subprocess killed with SIGKILL in the middle of a stroke)."""

import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from p2phd.editor.autosave import Autosaver, discard_recovery, find_recovery
from p2phd.editor.document import Document
from p2phd.editor.project import read_meta


class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_commit_saves_and_tick_saves_long_strokes(tmp_path):
    doc, clock = Document(32, 16, fill=7), FakeClock()
    saver = Autosaver(doc, tmp_path, interval=5.0, clock=clock)
    assert find_recovery(tmp_path) is None and not saver.tick()
    doc.paint_stroke([(5, 5)], 26, 2)
    assert saver.saves == 1 and not saver.pending
    stroke = doc.begin_stroke(23, 1)
    stroke.add_point(20, 3)
    assert saver.pending and not saver.tick()  # changes younger than the interval
    clock.now += 5.0
    assert saver.tick() and saver.saves == 2
    np.testing.assert_array_equal(Document.open_project(find_recovery(tmp_path)).label, doc.label)
    stroke.commit()
    assert saver.saves == 3
    saver.close(discard=True)
    assert find_recovery(tmp_path) is None


def test_background_worker_writes_newest_snapshot(tmp_path):
    doc = Document(32, 16, fill=7)
    saver = Autosaver(doc, tmp_path, background=True, source="/home/me/scene.p2phd")
    for x in range(4, 30, 6):
        doc.paint_stroke([(x, 8)], 26, 2)
    saver.flush()
    recovered = Document.open_project(saver.path)
    np.testing.assert_array_equal(recovered.instance, doc.instance)
    assert read_meta(saver.path)["extra"]["source"] == "/home/me/scene.p2phd"
    saver.close()
    assert saver.path.exists()
    discard_recovery(saver.path)
    assert find_recovery(tmp_path) is None


def test_write_error_is_reported_not_raised(tmp_path):
    doc = Document(8, 8)
    saver = Autosaver(doc, tmp_path / "rec")
    (tmp_path / "rec").rmdir()  # the folder vanished: editing must go on
    doc.paint_stroke([(2, 2)], 26, 1)
    assert isinstance(saver.last_error, OSError)


CRASHING_EDITOR = textwrap.dedent(
    """
    import os, signal, sys
    from p2phd.editor.autosave import Autosaver
    from p2phd.editor.document import Document

    doc = Document(96, 48, fill=7)
    Autosaver(doc, sys.argv[1])
    doc.paint_stroke([(10, 10), (40, 12)], 26, 4)
    doc.set_style(26000, 3)
    doc.paint_stroke([(70, 30)], 24, 5)
    stroke = doc.begin_stroke(23, 6)  # the stroke in progress when the power goes out
    stroke.add_point(50, 40)
    stroke.add_point(90, 40)
    os.kill(os.getpid(), signal.SIGKILL)
    """
)


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")
def test_recovery_after_kill_9_loses_at_most_the_last_stroke(tmp_path):
    rec = tmp_path / "recovery"
    result = subprocess.run([sys.executable, "-c", CRASHING_EDITOR, str(rec)], capture_output=True, timeout=120)
    assert result.returncode == -signal.SIGKILL, result.stderr.decode()
    found = find_recovery(rec)
    assert found is not None
    recovered = Document.open_project(found)
    expected = Document(96, 48, fill=7)
    expected.paint_stroke([(10, 10), (40, 12)], 26, 4)
    expected.paint_stroke([(70, 30)], 24, 5)
    np.testing.assert_array_equal(recovered.label, expected.label)
    np.testing.assert_array_equal(recovered.instance, expected.instance)
    assert recovered.styles.get(26000) == 3
    assert not [p for p in os.listdir(rec) if p.endswith(".tmp")]
