"""Object library dock: thumbnails from a real saved library, class filter, a click emits the entry."""

import numpy as np
import pytest

pytest.importorskip("pytestqt")

from p2phd.editor.qt.library_dock import LibraryDock  # noqa: E402
from p2phd.models.features.library import LibraryEntry, ObjectLibrary  # noqa: E402
from PySide6.QtCore import Qt  # noqa: E402
from PySide6.QtTest import QTest  # noqa: E402

CAR, PERSON = 26, 24


def entry(label, h, w, cluster=None, seed=0):
    mask = np.zeros((h, w), bool)
    mask[h // 4 : h - 1, 1 : w - 1] = True
    return LibraryEntry(
        label=label,
        mask=mask,
        bbox=(10, 20, 10 + w, 20 + h),
        image_size=(256, 128),
        feature=np.full(3, seed, np.float32),
        cluster=cluster,
        source=f"frame{seed}",
        instance_id=label * 1000 + seed,
    )


@pytest.fixture
def library(tmp_path):
    ObjectLibrary([entry(CAR, 20, 40, 1, 0), entry(PERSON, 50, 16, None, 1), entry(CAR, 30, 30, 2, 2)]).save(tmp_path)
    return ObjectLibrary.load(tmp_path)  # the real on-disk format, round-tripped


@pytest.fixture
def dock(qtbot):
    widget = LibraryDock()
    qtbot.addWidget(widget)
    widget.resize(320, 400)
    widget.show()
    qtbot.waitExposed(widget)
    yield widget
    widget.close_workers()  # as the window's shutdown does
    assert not widget._runner._jobs.thread.is_alive()


def test_without_library_says_so(dock):
    assert dock.list.count() == 0 and "No model" in dock.status.text()
    dock.set_library(ObjectLibrary())
    assert dock.list.count() == 0 and "no object library" in dock.status.text().lower()


def test_thumbnails_filter_and_click_emits_the_entry(qtbot, dock, library):
    dock.set_library(library)
    qtbot.waitUntil(lambda: dock.list.count() == 3)
    assert [dock.class_filter.itemText(i) for i in range(dock.class_filter.count())] == [
        "All classes (3)",
        "person (1)",
        "car (2)",
    ]
    icon = dock.list.item(0).icon().pixmap(72, 72).toImage()
    assert not icon.isNull() and icon.pixelColor(36, 25).blue() == 142  # drawn in the car colour

    dock.set_class_filter(CAR)
    assert [e.label for e in dock.visible_entries()] == [CAR, CAR]
    third = dock.list.item(2)
    assert "style cluster 2" in third.toolTip() and "frame2" in third.toolTip()

    rect = dock.list.visualItemRect(third)
    with qtbot.waitSignal(dock.sig_entry_chosen) as blocker:
        QTest.mouseClick(dock.list.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    chosen = blocker.args[0]
    assert chosen is library.entries[2] and chosen.mask.shape == (30, 30) and chosen.cluster == 2

    dock.set_class_filter(None)
    assert len(dock.visible_entries()) == 3
    with pytest.raises(ValueError, match="no objects of class 7"):
        dock.set_class_filter(7)


def test_replacing_the_library_drops_stale_thumbnails(qtbot, dock, library):
    dock.set_library(library)
    dock.set_library(ObjectLibrary(library.entries[1:2]))  # before the first thumbnails arrived
    qtbot.waitUntil(lambda: dock.ready)
    assert dock.wait_for_thumbnails(5000)
    QTest.qWait(0)
    assert [e.label for e in dock.visible_entries()] == [PERSON]
