"""Class palette dock and the background runner: real clicks and key presses, offscreen."""

import threading

import pytest

pytest.importorskip("pytestqt")

from p2phd.editor.qt.palette_dock import LABEL_ROLE, ClassPaletteDock  # noqa: E402
from p2phd.editor.qt.workers import BackgroundRunner  # noqa: E402
from PySide6.QtCore import Qt  # noqa: E402
from PySide6.QtTest import QTest  # noqa: E402

CAR, ROAD, PERSON = 26, 7, 24


@pytest.fixture
def palette(qtbot):
    dock = ClassPaletteDock()
    qtbot.addWidget(dock)
    dock.resize(300, 600)
    dock.show()
    qtbot.waitExposed(dock)
    return dock


def click_item(qtbot, list_widget, label_id):
    for row in range(list_widget.count()):
        item = list_widget.item(row)
        if item.data(LABEL_ROLE) == label_id:
            list_widget.scrollToItem(item)
            rect = list_widget.visualItemRect(item)
            QTest.mouseClick(list_widget.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
            return
    raise AssertionError(f"no item for {label_id}")


def test_palette_lists_every_class_with_id_and_kind(palette):
    assert palette.list.count() == 34
    texts = [palette.list.item(r).text() for r in range(palette.list.count())]
    assert "car  (26, thing)" in texts and "road  (7, stuff)" in texts


def test_search_filters_and_click_chooses(qtbot, palette):
    qtbot.keyClicks(palette.search, "car")
    assert palette.visible_labels() == [CAR, 29]  # car, caravan
    with qtbot.waitSignal(palette.sig_label_chosen) as blocker:
        click_item(qtbot, palette.list, CAR)
    assert blocker.args == [CAR]
    assert palette.current_label() == CAR


def test_search_by_kind_and_id(qtbot, palette):
    qtbot.keyClicks(palette.search, "thing")
    assert palette.visible_labels() == list(range(24, 34))
    palette.search.clear()
    qtbot.keyClicks(palette.search, "7")
    assert palette.visible_labels() == [ROAD]


def test_enter_chooses_the_current_class(qtbot, palette):
    qtbot.keyClicks(palette.search, "person")
    palette.list.setCurrentRow(PERSON)
    palette.list.setFocus()
    with qtbot.waitSignal(palette.sig_label_chosen) as blocker:
        qtbot.keyClick(palette.list, Qt.Key.Key_Return)
    assert blocker.args == [PERSON]


def test_set_current_label_selects_without_emitting_and_clears_a_hiding_search(qtbot, palette):
    qtbot.keyClicks(palette.search, "road")
    with qtbot.assertNotEmitted(palette.sig_label_chosen):
        palette.set_current_label(CAR)
    assert palette.current_label() == CAR and palette.search.text() == ""
    with pytest.raises(ValueError, match="not a Cityscapes label id"):
        palette.set_current_label(99)


def test_new_instance_checkbox(qtbot, palette):
    assert palette.new_instance is True
    with qtbot.waitSignal(palette.sig_new_instance_changed) as blocker:
        qtbot.mouseClick(palette.new_instance_box, Qt.MouseButton.LeftButton)
    assert blocker.args == [False] and palette.new_instance is False
    palette.new_instance = True
    assert palette.new_instance_box.isChecked()


# -- BackgroundRunner ------------------------------------------------------------------------------
@pytest.fixture
def runner():
    """Closed (its thread joined) when the test ends, not whenever the garbage collector gets to it."""
    runner = BackgroundRunner()
    yield runner
    runner.close()
    assert not runner._jobs.thread.is_alive()


def test_runner_delivers_on_the_ui_thread(qtbot, runner):
    seen = []
    runner.submit(lambda: threading.current_thread().name, lambda r: seen.append((r, threading.current_thread())))
    qtbot.waitUntil(lambda: bool(seen))
    worker_name, delivered_on = seen[0]
    assert delivered_on is threading.main_thread() and worker_name != threading.main_thread().name
    assert not runner.busy


def test_runner_drops_superseded_results_and_reports_errors(qtbot, runner):
    gate = threading.Event()
    seen, errors = [], []
    runner.submit(lambda: gate.wait(5) and "old", seen.append)
    runner.submit(lambda: "new", seen.append)
    gate.set()
    qtbot.waitUntil(lambda: not runner.busy)
    assert runner.wait(5000)
    QTest.qWait(0)  # flush any queued delivery of the superseded job: it must not arrive
    assert seen == ["new"]
    runner.submit(lambda: 1 / 0, seen.append, errors.append)
    qtbot.waitUntil(lambda: bool(errors))
    assert isinstance(errors[0], ZeroDivisionError)


def test_runner_cancel_delivers_nothing(qtbot, runner):
    gate, seen = threading.Event(), []
    generation = runner.submit(lambda: gate.wait(5), seen.append)
    runner.cancel()
    assert not runner.is_current(generation) and not runner.busy
    gate.set()
    assert runner.wait(5000)
    QTest.qWait(0)
    assert seen == []
