"""Issue 12, the GUI: visible instances, a class choice that cannot lie, live feedback, truthful state
and an honest model card, each driven by real mouse and key events (pytest-qt, offscreen)."""

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pytestqt")
from p2phd.editor.boundaries import instance_edges  # noqa: E402
from p2phd.editor.document import Document  # noqa: E402
from p2phd.editor.geometry import Rect  # noqa: E402
from p2phd.editor.qt.image_convert import qimage_to_rgb  # noqa: E402
from p2phd.editor.qt.overlays import EDGE_RGBA, SELECTED_LINE  # noqa: E402
from p2phd.editor.qt.tools import default_radius  # noqa: E402
from p2phd.editor.template import new_from_template  # noqa: E402
from p2phd.models.labels import BY_NAME, PALETTE  # noqa: E402
from PySide6.QtCore import QSettings, Qt  # noqa: E402
from PySide6.QtTest import QTest  # noqa: E402
from test_qt_window import CAR, SKY, FakePrompts, at, bundle_dir, car_at, drag, key, make_window  # noqa: E402, F401

VEGETATION = BY_NAME["vegetation"].id
NO_MOD = Qt.KeyboardModifier.NoModifier


@pytest.fixture
def window(qtbot, tmp_path):
    w = make_window(qtbot, tmp_path)
    w.resize(1800, 700)
    qtbot.waitUntil(lambda: w.canvas.panes()[0][0].width() > 300)
    w.canvas.actual_size()  # 1 document pixel = 1 screen pixel: pixel checks are exact
    assert w.canvas.to_doc(at(w, 0, 0).toPointF()) is not None and w.canvas.to_doc(at(w, 255, 127).toPointF())
    return w


def shot(window) -> np.ndarray:
    return qimage_to_rgb(window.canvas.grab().toImage())


def screen(window, x, y, image=None) -> np.ndarray:
    p = at(window, x, y)
    return (shot(window) if image is None else image)[p.y(), p.x()].astype(int)


def blend(under, rgba) -> np.ndarray:
    *rgb, a = rgba
    return np.asarray(under, float) * (1 - a / 255) + np.asarray(rgb, float) * a / 255


def two_cars(doc):
    ids = sorted(int(v) for v in np.unique(doc.instance) if v // 1000 == CAR)
    assert len(ids) >= 2, "the template should have at least two cars"
    return ids


# -- instances visible ----------------------------------------------------------------------------------------
def test_boundaries_are_the_networks_edges_and_follow_edits(qtbot, window):
    torch = pytest.importorskip("torch")
    from p2phd.models.inputs.network_input import get_edges

    doc = window.document
    edges = window.canvas.edges
    expected = get_edges(torch.from_numpy(doc.instance.astype(np.int64))).numpy().astype(bool)
    assert np.array_equal(edges.edges(), expected)  # the same 4-neighbour boundary the network sees
    window.tools.set_label(CAR)
    window.tools.set_radius(5)
    drag(window, [(20, 100), (60, 104)])  # a new car: updated on the dirty rectangle only
    assert np.array_equal(edges.edges(), instance_edges(doc.instance))
    key(qtbot, window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert np.array_equal(edges.edges(), instance_edges(doc.instance))


def test_boundary_between_two_cars_is_drawn_and_can_be_hidden(qtbot, window):
    doc = window.document
    doc.paint_stroke([(100, 100), (120, 100)], CAR, 6)  # two touching cars of one class
    right = doc.paint_stroke([(128, 100), (148, 100)], CAR, 6)  # starts just outside the first: a new car
    x = next(x for x in range(100, 150) if doc.instance[100, x] == right)  # first pixel of the right car
    assert doc.instance[100, x - 1] // 1000 == CAR and doc.instance[100, x - 1] != right
    car = PALETTE[CAR]
    QTest.mouseMove(window.canvas, at(window, 5, 5))  # no hover highlight near the cars
    drawn = screen(window, x, 100)
    assert np.abs(drawn - blend(car, EDGE_RGBA)).max() <= 3  # the line between them
    assert np.abs(screen(window, x + 6, 100) - car).max() <= 1  # inside: the class colour
    assert window.actions.by_name["show_instances"].isChecked()  # on by default
    key(qtbot, window, Qt.Key.Key_I, Qt.KeyboardModifier.ControlModifier)
    assert not window.canvas.show_instances
    assert np.abs(screen(window, x, 100) - car).max() <= 1


def test_hovered_object_is_highlighted_and_selected_one_outlined(qtbot, window):
    doc = window.document
    car_id, cx, cy = car_at(doc)
    key(qtbot, window, Qt.Key.Key_V)  # no brush outline over the pixels compared
    QTest.mouseMove(window.canvas, at(window, 3, 3))
    before = screen(window, cx, cy)
    QTest.mouseMove(window.canvas, at(window, cx, cy))
    assert window.canvas.hover == car_id
    assert screen(window, cx, cy).sum() > before.sum() + 30  # lighter: the hovered object is filled
    QTest.mouseClick(window.canvas, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.AltModifier, at(window, cx, cy))
    assert window.tools.selected == car_id
    QTest.mouseMove(window.canvas, at(window, 3, 3))
    assert window.canvas.hover is None
    box = doc.object_bbox(car_id)
    column = box.x0 + box.width // 2
    top = next(y for y in range(box.y0, box.y1) if doc.instance[y, column] == car_id)  # its top boundary
    assert screen(window, column, top).tolist() == list(SELECTED_LINE[:3])


# -- class choice that cannot lie ----------------------------------------------------------------------------
def test_enter_in_filter_selects_first_match_and_toolbar_shows_it(qtbot, window):
    palette = window.docks["palette"]
    palette.search.setFocus()
    qtbot.keyClicks(palette.search, "veg")
    qtbot.keyClick(palette.search, Qt.Key.Key_Return)
    assert window.tools.label == VEGETATION
    assert "vegetation" in window.actions.current_class.name.text()
    assert window.canvas.brush_color().getRgb()[:3] == tuple(PALETTE[VEGETATION])
    assert window.canvas.hasFocus()  # tool keys work again at once
    qtbot.keyClick(window.focusWidget(), Qt.Key.Key_E)
    assert palette.search.text() == "veg" and window.tools.tool == "eraser"
    qtbot.keyClick(window.focusWidget(), Qt.Key.Key_B)
    palette.search.setFocus()
    drag(window, [(30, 100), (60, 100)])
    assert window.document.label[100, 45] == VEGETATION
    qtbot.keyClicks(palette.search, "zzz")  # nothing matches: Enter changes nothing
    qtbot.keyClick(palette.search, Qt.Key.Key_Return)
    assert window.tools.label == VEGETATION


def test_ctrl_z_in_the_filter_undoes_the_document(qtbot, window):
    doc = window.document
    before = doc.label.copy()
    window.tools.set_label(SKY)
    drag(window, [(30, 110), (90, 110)])
    after = doc.label.copy()
    palette = window.docks["palette"]
    palette.search.setFocus()
    qtbot.keyClicks(palette.search, "car")
    qtbot.keyClick(palette.search, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert np.array_equal(doc.label, before) and palette.search.text() == "car"
    qtbot.keyClick(palette.search, Qt.Key.Key_Y, Qt.KeyboardModifier.ControlModifier)
    assert np.array_equal(doc.label, after) and palette.search.text() == "car"


# -- live feedback -----------------------------------------------------------------------------------------------
def test_move_drags_a_ghost_of_the_objects_pixels(qtbot, window):
    doc = window.document
    car_id, cx, cy = car_at(doc)
    box = doc.object_bbox(car_id)
    key(qtbot, window, Qt.Key.Key_V)
    dy = box.height + 4  # below the car, where there is no car yet
    QTest.mousePress(window.canvas, Qt.MouseButton.LeftButton, NO_MOD, at(window, cx, cy))
    empty = shot(window)
    QTest.mouseMove(window.canvas, at(window, cx, cy + dy // 2))
    QTest.mouseMove(window.canvas, at(window, cx, cy + dy))
    image = shot(window)
    mask = doc.instance[box.slices] == car_id
    padded = np.pad(mask, 1)
    interior = mask & padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2] & padded[1:-1, 2:]
    ys, xs = np.nonzero(interior)
    inside = [(box.x0 + x, box.y0 + y + dy) for x, y in zip(xs, ys)][::5]
    carish = [screen(window, x, y, image) for x, y in inside if y < doc.height]
    assert carish and all(p[2] > p[0] + 40 for p in carish)  # the ghost has the car's (blue) pixels
    corner = [(box.x0 + x, box.y0 + y + dy) for y in range(box.height) for x in range(box.width) if not mask[y, x]]
    outside = [(x, y) for x, y in corner if y < doc.height][:20]
    assert all(np.array_equal(screen(window, x, y, image), screen(window, x, y, empty)) for x, y in outside)
    QTest.mouseRelease(window.canvas, Qt.MouseButton.LeftButton, NO_MOD, at(window, cx, cy + dy))
    assert doc.object_bbox(car_id).y0 > box.y0


def test_insert_previews_the_mask_at_its_scale_and_flip(qtbot, window):
    from p2phd.models.features.library import LibraryEntry

    mask = np.zeros((8, 8), bool)
    mask[:, :2] = True  # an L: a left bar and a bottom bar
    mask[-2:, :] = True
    entry = LibraryEntry(label=CAR, mask=mask, bbox=(0, 0, 8, 8), image_size=(128, 64),
                         feature=np.zeros(3, np.float32), cluster=0)  # fmt: skip
    window.tools.set_insert_entry(entry)
    assert window.tools.insert_scale == 2.0  # a 128-wide source in a 256-wide document: 16 x 16
    x, y = 100, 60  # bottom centre of the preview: the box spans x 92..108, y 44..60
    QTest.mouseMove(window.canvas, at(window, 3, 3))
    empty = shot(window)
    QTest.mouseMove(window.canvas, at(window, x, y))
    image = shot(window)

    def changed(px, py):
        return not np.array_equal(screen(window, px, py, image), screen(window, px, py, empty))

    assert changed(93, 50) and changed(105, 58)  # the left bar and the bottom bar
    assert not changed(104, 48)  # the empty corner of the box: a mask, not a box
    qtbot.keyClick(window.canvas, Qt.Key.Key_X)  # flip: the bar moves to the right
    flipped = shot(window)
    assert not np.array_equal(screen(window, 93, 50, flipped), screen(window, 93, 50, image))
    assert not np.array_equal(screen(window, 106, 50, flipped), screen(window, 106, 50, empty))


def test_brush_size_in_toolbar_and_default_proportional(qtbot, tmp_path, window):
    box = window.actions.brush_size
    assert box.value() == window.tools.radius == default_radius(window.document.width, window.document.height)
    key(qtbot, window, Qt.Key.Key_BracketRight)
    assert box.value() == window.tools.radius > default_radius(256, 128)
    box.setValue(17)
    assert window.tools.radius == 17
    big = make_window(qtbot, tmp_path / "big", Document(2048, 1024, fill=7))
    assert big.tools.radius == 32 and big.actions.brush_size.value() == 32  # 1/64 of the frame's width


def test_default_brush_visibly_changes_the_demo_photo():
    """One stroke at the default size across a road changes the demo model's photo, not just a few pixels."""
    pytest.importorskip("torch")
    from p2phd.models.checkpoint.locate import find_checkpoint
    from p2phd.models.engine.engine import Engine
    from p2phd.models.engine.request import EngineRequest

    engine = Engine.load(find_checkpoint(None), device="cpu", precision="fp32", render_at_native=True)
    doc = new_from_template(seed=0)
    before = engine.run(EngineRequest(*doc.snapshot()[:3])).image.astype(int)
    r = default_radius(doc.width, doc.height)
    doc.paint_stroke([(700, 900), (1300, 900)], BY_NAME["terrain"].id, r)
    after = engine.run(EngineRequest(*doc.snapshot()[:3])).image.astype(int)
    k = after.shape[1] / doc.width  # the demo renders at its native size (1024 x 512)
    stroke = Rect(round((700 - r) * k), round((900 - r) * k), round((1300 + r) * k), round((900 + r) * k))
    assert stroke.height >= 8  # at least 8 network pixels across
    diff = np.abs(after - before).sum(axis=2)[stroke.slices]
    assert (diff > 30).mean() > 0.25, (diff > 30).mean()


# -- truthful state -------------------------------------------------------------------------------------------
def test_title_star_follows_the_saved_revision(qtbot, tmp_path, window):
    assert "*" not in window.windowTitle()
    window.tools.set_label(SKY)
    drag(window, [(30, 110), (90, 110)])
    assert "*" in window.windowTitle()
    key(qtbot, window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert "*" not in window.windowTitle()  # undo back to the opened state
    key(qtbot, window, Qt.Key.Key_Y, Qt.KeyboardModifier.ControlModifier)
    window.prompts.paths.append(str(tmp_path / "a.p2phd"))
    key(qtbot, window, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)
    assert "*" not in window.windowTitle()
    drag(window, [(30, 60), (90, 60)])
    assert "*" in window.windowTitle()
    key(qtbot, window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert "*" not in window.windowTitle()  # back at the saved revision
    key(qtbot, window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert "*" in window.windowTitle()  # before it: modified again


def test_title_from_the_maps_file_name(qtbot, tmp_path, window):
    new_from_template(64, 32).save(tmp_path / "frankfurt_000_gtFine_labelIds.png",
                                   tmp_path / "frankfurt_000_gtFine_instanceIds.png")  # fmt: skip
    assert window.files.open(tmp_path / "frankfurt_000_gtFine_labelIds.png")
    assert window.windowTitle().startswith("frankfurt_000 ")
    assert "untitled" not in window.windowTitle()
    window.prompts.paths.append(str(tmp_path / "out" / "frankfurt_000.p2phd"))
    (tmp_path / "out").mkdir()
    assert window.files.save_as()
    assert window.windowTitle().startswith("frankfurt_000.p2phd")
    window.files.set_opened(tmp_path / "lindau_000_gtFine_labelIds.png")  # what `p2phd edit X.png` does
    assert window.windowTitle().startswith("lindau_000 ")


class FolderPrompts(FakePrompts):
    def __init__(self):
        super().__init__()
        self.dirs = []

    def open_path(self, parent, title, filters, directory=""):
        self.dirs.append(("open", directory))
        return super().open_path(parent, title, filters)

    def save_path(self, parent, title, filters, suggested=""):
        self.dirs.append(("save", str(Path(suggested).parent) if "/" in suggested else ""))
        return super().save_path(parent, title, filters, suggested)

    def directory(self, parent, title, directory=""):
        self.dirs.append(("dir", directory))
        return self.paths.pop(0) if self.paths else None


def test_file_dialogs_remember_the_last_folder_per_kind(qtbot, tmp_path):
    maps, projects = tmp_path / "maps", tmp_path / "projects"
    maps.mkdir()
    projects.mkdir()
    new_from_template(64, 32).save(maps / "a_gtFine_labelIds.png")
    prompts = FolderPrompts()
    window = make_window(qtbot, tmp_path, prompts=prompts)
    prompts.paths.append(str(maps / "a_gtFine_labelIds.png"))
    assert window.files.open()
    prompts.paths.append(str(projects / "a.p2phd"))
    assert window.files.save_as()
    window.files.open()  # cancelled
    prompts.paths.append(str(projects / "b.p2phd"))
    window.files.save_as()
    assert prompts.dirs == [("open", ""), ("save", str(maps.resolve())), ("open", str(maps.resolve())),
                            ("save", str(projects.resolve()))]  # fmt: skip
    # remembered across sessions (in the QSettings the window was given, never the user's own)
    again = make_window(qtbot, tmp_path, prompts=prompts)
    again.files.open()
    assert prompts.dirs[-1] == ("open", str(maps.resolve()))


# -- model honesty --------------------------------------------------------------------------------------------------
def test_model_card_in_status_bar_and_menu(qtbot, tmp_path, bundle_dir):  # noqa: F811
    window = make_window(qtbot, tmp_path)
    with qtbot.waitSignal(window.render.engine_changed, timeout=60000):
        window.load_model(bundle_dir, "cpu", "fp32")
    text = window.status_device.text()
    assert "tiny" in text and "128 x 64" in text and "instance styles" in text
    entries = [a.text() for a in window.actions.model_card_menu.actions()]
    assert "Native size: 128 x 64" in entries
    assert any(e.startswith("Instance features: yes") for e in entries)
    assert any(e.startswith("Trained on: not recorded") for e in entries)
    assert window.notice.isHidden()  # not the demo model


def test_demo_card_from_config_and_readme():
    from p2phd.models.checkpoint.card import card_for
    from p2phd.models.config import ModelConfig

    demo = Path(__file__).resolve().parents[1] / "checkpoints" / "demo"
    config = ModelConfig.load(demo / "config.json")
    card = card_for(config, demo, has_encoder=True, feature_classes=11)
    assert card.is_demo and card.native_size == f"{config.native_width} x {config.native_height}"
    assert card.instance_features
    assert card.trained_on.startswith("8 Cityscapes frames")
    bare = card_for(config.replace(provenance={}), demo)  # no trained_on: the README's first line says it
    assert bare.trained_on == "8 Cityscapes frames" and not bare.instance_features
    nvidia = card_for(ModelConfig(netG="local", provenance={"source": "nvidia", "name": "label2city_1024p"}),
                      Path("label2city_1024p"), "nvidia")  # fmt: skip
    assert nvidia.trained_on.startswith("not recorded") and not nvidia.is_demo


def test_demo_notice_is_shown_once_until_dismissed(qtbot, tmp_path):
    from p2phd.models.checkpoint.locate import find_checkpoint

    demo = find_checkpoint(None)
    window = make_window(qtbot, tmp_path)
    with qtbot.waitSignal(window.render.engine_changed, timeout=60000):
        window.load_model(demo, "cpu", "fp32")
    qtbot.waitUntil(window.notice.isVisible)  # on the next turn of the event loop
    assert "Model ▸ Open checkpoint" in window.notice.text.text() and "README" in window.notice.text.text()
    assert "8 Cityscapes frames" in window.status_device.text()
    qtbot.mouseClick(window.notice.dismiss_button, Qt.MouseButton.LeftButton)
    assert window.notice.isHidden()
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)  # make_window's own file
    assert settings.value("notices/demo_model_dismissed") in (True, "true")
    again = make_window(qtbot, tmp_path)
    again.notice.offer(window.model_card)
    assert again.notice.isHidden()


def test_demo_notice_is_announced_before_the_model_loads(qtbot, tmp_path, bundle_dir):  # noqa: F811
    """open_editor announces the demo model before the window's first paint (no layout turn at install)."""
    from p2phd.models.checkpoint.locate import find_checkpoint

    window = make_window(qtbot, tmp_path)
    window.announce_model(bundle_dir)  # not the demo: nothing to announce
    assert window.notice.isHidden()
    window.announce_model(find_checkpoint(None))
    assert window.notice.isVisible() and "Demo model" in window.notice.text.text()  # at once, no event loop turn


def test_stray_click_object_is_listed_and_merged_from_the_edit_menu(qtbot, window):
    """A tiny car inside a car (a stray click) shows in the sanity warnings and merges in one undo step."""
    doc = window.document
    big = doc.paint_stroke([(60, 60), (140, 60)], CAR, 20)
    speck = big + 1  # strokes started inside a car extend it now, so write the old bug's result directly
    with doc.edit("stray click") as e:
        e.write(Rect(99, 59, 102, 62), np.ones((3, 3), bool), CAR, speck)
    assert (doc.instance == speck).sum() == 9
    assert [oid for oid, _, around in doc.small_objects() if around == big] == [speck]
    before = doc.instance.copy()
    window.actions.by_name["merge_small"].trigger()
    assert not (doc.instance == speck).any() and doc.instance[60, 100] == big
    assert "merged 1" in window.statusBar().currentMessage()
    window.undo()
    assert np.array_equal(doc.instance, before)
