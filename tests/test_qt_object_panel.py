"""Object panel with a real tiny random-weight engine: info, delete/undo, relabel, style gallery clicks,
randomise, blend slider, copy style, appearance from photo; real mouse and key events, offscreen."""

import threading

import numpy as np
import pytest
import torch

pytest.importorskip("pytestqt")

from p2phd.editor.document import Document  # noqa: E402
from p2phd.editor.qt import object_panel  # noqa: E402
from p2phd.editor.qt.object_panel import ObjectPanel  # noqa: E402
from p2phd.editor.qt.workers import EngineJobs  # noqa: E402
from p2phd.models.checkpoint.bundle import save_bundle  # noqa: E402
from p2phd.models.engine.engine import Engine  # noqa: E402
from p2phd.models.mapfiles.writing import write_maps  # noqa: E402
from PIL import Image  # noqa: E402
from PySide6.QtCore import Qt  # noqa: E402
from tiny import tiny_config  # noqa: E402

ROAD, BUILDING, SKY, CAR, TRUCK = 7, 11, 23, 26, 27
CAR_A, CAR_B = CAR * 1000, CAR * 1000 + 1
CENTRES = np.array([[-1, -1, -1], [1, 1, 1], [1, -1, 0.5], [-0.5, 1, -1]], np.float32)


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    cfg = tiny_config("local", features=True)
    torch.manual_seed(0)
    path = save_bundle(tmp_path_factory.mktemp("bundle") / "tiny", cfg, cfg.build_G(), cfg.build_E(), {CAR: CENTRES})
    return Engine.load(path, device="cpu", precision="fp32", backend="eager")


def street_maps():
    label = np.full((128, 256), ROAD, np.uint8)
    label[:40] = SKY
    label[40:70] = BUILDING
    inst = label.astype(np.int32)
    for oid, x0 in ((CAR_A, 30), (CAR_B, 150)):
        label[75:105, x0 : x0 + 60] = CAR
        inst[75:105, x0 : x0 + 60] = oid
    return label, inst


@pytest.fixture
def jobs(qtbot, engine):
    """The engine service the render controller would lend the panel: the engine runs only there."""
    service = EngineJobs(engine=engine)
    yield service
    service.close()


@pytest.fixture
def document():
    return Document.from_arrays(*street_maps())


@pytest.fixture
def panel(qtbot, document):
    widget = ObjectPanel(document)
    qtbot.addWidget(widget)
    widget.resize(360, 700)
    widget.show()
    qtbot.waitExposed(widget)
    yield widget
    assert widget.wait_for_workers(30000)


def click(qtbot, button):
    assert button.isEnabled(), button.text()
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def wait_for_gallery(qtbot, panel, count=4):
    qtbot.waitUntil(lambda: len(panel.gallery.buttons) == count and panel.gallery.buttons[0].isEnabled(), timeout=30000)


def test_shows_class_id_and_area(panel):
    assert panel.id_label.text() == "no object selected" and not panel.delete_button.isEnabled()
    panel.set_object(CAR_A)
    assert (panel.class_label.text(), panel.id_label.text(), panel.area_label.text()) == ("car", "26000", "1800 px")
    assert panel.gallery.status.text().startswith("No model loaded")
    assert not panel.randomize_button.isEnabled() and not panel.photo_button.isEnabled()


def test_delete_button_removes_the_object_and_undo_restores_it(qtbot, panel, document):
    panel.set_object(CAR_A)
    with qtbot.waitSignal(panel.sig_object_changed) as blocker:
        click(qtbot, panel.delete_button)
    assert blocker.args == [None] and panel.object_id is None
    assert document.object_area(CAR_A) == 0 and document.object_area(CAR_B) == 1800
    assert document.undo()
    assert document.object_area(CAR_A) == 1800


def test_follows_removal_and_undo_by_others(qtbot, panel, document):
    panel.set_object(CAR_B)
    document.remove_object(CAR_B)
    qtbot.waitUntil(lambda: panel.area_label.text() == "not in the document")
    assert not panel.delete_button.isEnabled()
    document.undo()
    qtbot.waitUntil(lambda: panel.area_label.text() == "1800 px")
    assert panel.delete_button.isEnabled()


def test_relabel_gives_a_new_id_and_selects_it(qtbot, panel, document):
    panel.set_object(CAR_A)
    panel.relabel_combo.setCurrentIndex(panel.relabel_combo.findData(TRUCK))
    with qtbot.waitSignal(panel.sig_object_changed) as blocker:
        click(qtbot, panel.relabel_button)
    new_id = blocker.args[0]
    assert new_id == TRUCK * 1000 and panel.object_id == new_id and panel.class_label.text() == "truck"
    assert document.label[80, 40] == TRUCK and document.instance[80, 40] == new_id


def test_gallery_click_applies_that_cluster(qtbot, panel, document, engine, jobs):
    panel.set_engine(engine, jobs)
    panel.set_object(CAR_A)
    wait_for_gallery(qtbot, panel)
    icons = [b.icon().pixmap(96, 96).toImage() for b in panel.gallery.buttons]
    assert len({bytes(img.constBits()) for img in icons}) == 4  # each cluster renders differently
    checked = [b.isChecked() for b in panel.gallery.buttons]
    assert document.styles.get(CAR_A) is None and checked == [False, False, True, False]  # NVIDIA's default: 2
    click(qtbot, panel.gallery.buttons[1])
    assert document.styles.get(CAR_A) == 1 and document.styles.get(CAR_B) is None
    assert panel.gallery.buttons[1].isChecked() and not panel.gallery.buttons[2].isChecked()
    document.undo()
    qtbot.waitUntil(lambda: panel.gallery.buttons[2].isChecked())
    assert document.styles.get(CAR_A) is None and not panel.gallery.buttons[1].isChecked()


def test_randomise_blend_and_copy(qtbot, panel, document, engine, jobs):
    panel.set_engine(engine, jobs)
    panel.set_object(CAR_A)
    click(qtbot, panel.randomize_button)
    assert document.styles.get(CAR_A) in range(4)

    panel.blend.first.setValue(0)
    panel.blend.second.setValue(3)
    panel.blend.slider.setFocus()
    qtbot.keyClick(panel.blend.slider, Qt.Key.Key_PageUp)  # t = 0.1
    np.testing.assert_allclose(document.styles.get(CAR_A), 0.9 * CENTRES[0] + 0.1 * CENTRES[3], rtol=1e-6)
    qtbot.keyClick(panel.blend.slider, Qt.Key.Key_End)  # t = 1
    np.testing.assert_allclose(document.styles.get(CAR_A), CENTRES[3])

    document.set_style(CAR_B, 1)
    panel.copy_source.setValue(CAR_B)
    click(qtbot, panel.copy_button)
    assert document.styles.get(CAR_A) == 1
    panel.copy_source.setValue(CAR * 1000 + 7)
    click(qtbot, panel.copy_button)
    assert "no object 26007" in panel.message.text() and document.styles.get(CAR_A) == 1


def test_appearance_from_photo_sets_vectors_of_shared_objects(qtbot, panel, document, engine, tmp_path, jobs):
    label, inst = street_maps()
    inst[75:105, 150:210] = ROAD  # the photo has car A but not car B
    label[75:105, 150:210] = ROAD
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (128, 256, 3), np.uint8)).save(tmp_path / "photo.png")
    write_maps(tmp_path / "label.png", label, tmp_path / "inst.png", inst)
    picked = (str(tmp_path / "photo.png"), str(tmp_path / "label.png"), str(tmp_path / "inst.png"))
    panel.photo_picker = lambda parent: picked
    panel.set_engine(engine, jobs)
    panel.set_object(CAR_A)
    with qtbot.waitSignal(panel.sig_message, check_params_cb=lambda m: "applied" in m, timeout=30000):
        click(qtbot, panel.photo_button)
    vector = document.styles.get(CAR_A)
    assert isinstance(vector, np.ndarray) and vector.shape == (3,) and np.isfinite(vector).all()
    assert document.styles.get(CAR_B) is None and isinstance(document.styles.get(ROAD), np.ndarray)

    panel.photo_picker = lambda parent: (str(tmp_path / "missing.png"), *picked[1:])
    with qtbot.waitSignal(panel.sig_message, check_params_cb=lambda m: "failed" in m, timeout=30000):
        click(qtbot, panel.photo_button)
    assert "missing.png does not exist" in panel.message.text()


def test_close_unsubscribes(qtbot, panel, document):
    panel.set_object(CAR_A)
    panel.close()
    document.remove_object(CAR_A)
    qtbot.wait(0)
    assert panel.area_label.text() == "1800 px"  # no longer listening


def test_thumbnails_rerender_only_after_edits_near_the_object(qtbot, panel, document, engine, jobs):
    panel.set_engine(engine, jobs)
    panel.set_object(CAR_A)
    wait_for_gallery(qtbot, panel)
    runs = panel._preview_runs
    document.paint_stroke([(250, 5), (252, 6)], BUILDING, 2)  # far away
    qtbot.waitUntil(lambda: not panel._refresh_timer.isActive())
    assert panel._preview_runs == runs
    document.paint_stroke([(95, 90), (100, 92)], BUILDING, 3)  # touching the car
    qtbot.waitUntil(lambda: panel._preview_runs == runs + 1)
    wait_for_gallery(qtbot, panel)


def test_selecting_another_object_stops_the_previous_preview_job(qtbot, panel, engine, monkeypatch, jobs):
    monkeypatch.setattr(object_panel, "PREVIEW_BATCH", 1)
    gate, calls, real = threading.Event(), [], engine.style_previews

    def gated(request, object_id, indices=None):
        calls.append(object_id)
        if len(calls) == 1:
            assert gate.wait(30)
        return real(request, object_id, indices)

    monkeypatch.setattr(engine, "style_previews", gated)
    panel.set_engine(engine, jobs)
    panel.set_object(CAR_A)
    qtbot.waitUntil(lambda: len(calls) == 1)
    panel.set_object(CAR_B)  # while car A's first batch is still running
    gate.set()
    wait_for_gallery(qtbot, panel)
    assert panel.wait_for_workers(30000)
    assert calls == [CAR_A, CAR_B, CAR_B, CAR_B, CAR_B]  # car A's job stopped after its first batch
