"""Crash recovery in the window (pytest-qt, offscreen): the prompt shows when the work was saved and a
thumbnail (never an internal path), recovered work keeps its undo steps (real clicks on Undo), a damaged
recovery is moved aside and the editor starts fresh, and a live window's recovery is never offered."""

import os
import time

import numpy as np
import pytest

pytest.importorskip("pytestqt")
from p2phd.editor.autosave import Autosaver  # noqa: E402
from p2phd.editor.project import thumbnail  # noqa: E402
from p2phd.editor.recovery import claim_dead, load_state  # noqa: E402
from p2phd.editor.template import new_from_template  # noqa: E402
from PySide6.QtCore import QPoint, Qt, QTimer  # noqa: E402
from PySide6.QtTest import QTest  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402
from test_qt_window import make_window as make_template_window  # noqa: E402

W, H = 256, 128
SKY, CAR = 23, 26


class FakePrompts:
    def __init__(self, recover_answer=True):
        self.recover_answer = recover_answer
        self.errors: list[str] = []
        self.asked: list[str] = []
        self.offers = []

    def unsaved(self, parent, name):
        return "discard"

    def recover(self, parent, recovery):
        self.asked.append("recover")
        self.offers.append(recovery)
        return self.recover_answer

    def error(self, parent, message):
        self.errors.append(message)


def make_window(qtbot, tmp_path, prompts=None):
    return make_template_window(qtbot, tmp_path, prompts=prompts)


def crashed_session(tmp_path, strokes=25, source=None):
    """A session whose process died: its autosaver's lock is gone, its files stay."""
    doc = new_from_template(W, H, seed=3)
    saver = Autosaver(doc, tmp_path / "recovery", source=source)
    for i in range(strokes):
        doc.paint_stroke([(5 + 9 * i % 240, 10 + 4 * i % 100), (20 + 9 * i % 240, 12)], (SKY, CAR)[i % 2], 3)
    saver.close()
    return doc


def at(window, x, y) -> QPoint:
    canvas = window.canvas
    return canvas.to_widget(x + 0.5, y + 0.5, canvas.panes()[0][0]).toPoint()


def test_prompt_shows_time_and_thumbnail_not_a_path(qtbot, tmp_path):
    from p2phd.editor.qt.recovery import ask_recover, describe_time, recovery_dialog

    doc = crashed_session(tmp_path, strokes=3, source="/home/me/projects/street.p2phd")
    (claim,) = claim_dead(tmp_path / "recovery")
    try:
        claim.load()
        assert abs(claim.saved_at - time.time()) < 600 and claim.steps == 3
        box = recovery_dialog(None, claim)
        text = box.text()
        assert "last saved today at " in text and "street.p2phd" in text and "3 undo steps" in text
        assert "recovery" not in text and str(tmp_path) not in text and "/home/me" not in text
        pixmap = box.iconPixmap()
        assert not pixmap.isNull() and (pixmap.width(), pixmap.height()) == (W, H)
        image = pixmap.toImage()
        assert image.pixelColor(W // 2, 5).getRgb()[:3] != (0, 0, 0)
        box.deleteLater()

        def click_recover():  # the real modal dialog, answered with a real click
            QTest.mouseClick(QApplication.activeModalWidget().recover_button, Qt.MouseButton.LeftButton)

        QTimer.singleShot(100, click_recover)
        assert ask_recover(None, claim)
    finally:
        claim.release()
    np.testing.assert_array_equal(claim.thumbnail, thumbnail(doc.label))  # the recovered state, in colours
    assert describe_time(1000.0, 1000.0 + 3 * 60).endswith("(3 minutes ago)")
    assert describe_time(1000.0, 1000.0 + 3 * 86400).startswith("on ")


def test_recovered_work_keeps_its_undo_steps(qtbot, tmp_path):
    crashed = crashed_session(tmp_path)
    prompts = FakePrompts()
    window = make_window(qtbot, tmp_path, prompts)
    assert window.files.offer_recovery()
    assert prompts.asked == ["recover"] and prompts.offers[0].steps == 25
    doc = window.document
    np.testing.assert_array_equal(doc.label, crashed.label)
    assert "*" in window.windowTitle()
    undo_button = window.actions.toolbar.widgetForAction(window.actions.by_name["undo"])
    for _ in range(20):  # real clicks on Undo, step by step as the crashed session would have undone
        QTest.mouseClick(undo_button, Qt.MouseButton.LeftButton)
        assert crashed.undo()
        np.testing.assert_array_equal(doc.label, crashed.label)
        np.testing.assert_array_equal(doc.instance, crashed.instance)
    # the old files are gone; this window's own recovery holds the work (a second crash keeps it):
    # the undo steps are journaled on the event loop's next turn, after the clicks were drawn
    qtbot.wait(1)
    stems = {p.name.split(".")[0] for p in (tmp_path / "recovery").iterdir()}
    assert len(stems) == 1
    state = load_state(tmp_path / "recovery", stems.pop())
    np.testing.assert_array_equal(state.label, doc.label)


@pytest.mark.parametrize(
    "content", [b"not a zip at all", b"PK\x03\x04" + bytes(40), None], ids=["garbage", "torn-zip", "nested-json"]
)
def test_damaged_recovery_is_moved_aside_and_the_editor_starts_fresh(qtbot, tmp_path, content):
    folder = tmp_path / "recovery"
    folder.mkdir()
    bad = folder / "recovery-4242-deadbeef.p2phd"
    if content is None:
        import io
        import zipfile

        doc = new_from_template(W, H)
        doc.save_project(bad)
        with zipfile.ZipFile(bad) as zf:
            members = {n: zf.read(n) for n in zf.namelist()}
        members["styles.json"] = b"[" * 50000 + b"]" * 50000
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as zf:
            for name, data in members.items():
                zf.writestr(name, data)
        content = buf.getvalue()
    bad.write_bytes(content)
    prompts = FakePrompts()
    window = make_window(qtbot, tmp_path, prompts)
    template = window.document.label.copy()
    assert not window.files.offer_recovery()
    assert prompts.asked == [] and len(prompts.errors) == 1 and "moved to" in prompts.errors[0]
    assert not bad.exists() and [p.name for p in (folder / "damaged").iterdir()][0].endswith(bad.name)
    np.testing.assert_array_equal(window.document.label, template)
    second = FakePrompts()  # the next start: nothing to offer, nothing to complain about
    other = make_window(qtbot, tmp_path, second)
    assert not other.files.offer_recovery() and second.asked == [] and second.errors == []


def test_declined_recovery_is_deleted_and_not_offered_again(qtbot, tmp_path):
    crashed_session(tmp_path, strokes=2)
    prompts = FakePrompts(recover_answer=False)
    window = make_window(qtbot, tmp_path, prompts)
    assert not window.files.offer_recovery() and prompts.asked == ["recover"]
    again = FakePrompts()
    assert not make_window(qtbot, tmp_path, again).files.offer_recovery() and again.asked == []
    assert window.document is not None


def test_a_live_windows_recovery_is_never_offered_or_touched(qtbot, tmp_path):
    first = make_window(qtbot, tmp_path)
    first.tools.set_label(SKY)
    canvas = first.canvas
    QTest.mousePress(canvas, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, at(first, 30, 100))
    QTest.mouseMove(canvas, at(first, 90, 100))
    QTest.mouseRelease(canvas, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, at(first, 90, 100))
    qtbot.wait(1)  # the stroke's undo step is journaled on the next turn of the event loop
    folder = tmp_path / "recovery"
    before = sorted(os.listdir(folder))
    assert any(name.endswith(".journal") for name in before)
    prompts = FakePrompts()
    second = make_window(qtbot, tmp_path, prompts)
    assert not second.files.offer_recovery() and prompts.asked == []
    second.shutdown()  # the second window closes normally: only its own files go
    assert sorted(os.listdir(folder)) == before
    (stem,) = {name.split(".")[0] for name in before}
    np.testing.assert_array_equal(load_state(folder, stem).label, first.document.label)


GUI_CHILD = """
import os, signal, sys
sys.path.insert(0, sys.argv[1])
os.environ["QT_QPA_PLATFORM"] = "offscreen"
from test_qt_recovery import FakePrompts, gui_edit
from p2phd.editor.qt.app import application
from p2phd.editor.qt.main_window import MainWindow
from p2phd.editor.template import new_from_template
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication

folder, n = sys.argv[2], int(sys.argv[3])
app = application()
settings = QSettings(os.path.join(folder, "settings.ini"), QSettings.Format.IniFormat)
window = MainWindow(new_from_template(512, 256, seed=1), FakePrompts(), os.path.join(folder, "recovery"), settings)
window.show()
for i in range(n):  # back to back, the event loop turning between edits (autosave timer, worker)
    gui_edit(window.document, i)
    QApplication.processEvents()
os.kill(os.getpid(), signal.SIGKILL)
"""


def gui_edit(doc, i):
    if i % 6 == 5:
        doc.undo()
    else:
        x, y = 10 + (i * 53) % 480, 10 + (i * 29) % 230
        doc.paint_stroke([(x, y), (x + 15, y + 6)], (SKY, CAR, 8)[i % 3], 4)


@pytest.mark.skipif(not hasattr(__import__("signal"), "SIGKILL"), reason="needs POSIX signals")
@pytest.mark.parametrize("n", [4, 33])
def test_gui_killed_after_a_burst_of_edits_loses_at_most_one(tmp_path, n):
    import signal
    import subprocess
    import sys

    args = [sys.executable, "-c", GUI_CHILD, os.path.dirname(__file__), str(tmp_path), str(n)]
    result = subprocess.run(args, capture_output=True, timeout=300)
    assert result.returncode == -signal.SIGKILL, result.stderr.decode()[-2000:]
    (claim,) = claim_dead(tmp_path / "recovery")
    back = claim.load()
    claim.release()
    doc = new_from_template(512, 256, seed=1)
    states = []
    for i in range(n):
        gui_edit(doc, i)
        states.append((doc.label.copy(), doc.instance.copy()))
    assert any(np.array_equal(back.label, lab) and np.array_equal(back.instance, ins) for lab, ins in states[-2:])
    assert np.array_equal(back.label, states[-1][0]) and np.array_equal(back.instance, states[-1][1])  # none lost
