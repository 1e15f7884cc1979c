"""The canvas: coordinates, synced zoom/pan, view modes, dirty-rect recolouring, numpy <-> QImage."""

import numpy as np
import pytest

pytest.importorskip("pytestqt")
from p2phd.editor.document import Document  # noqa: E402
from p2phd.editor.qt.canvas import CanvasView  # noqa: E402
from p2phd.editor.qt.image_convert import LabelImage, qimage_to_rgb, rgb_to_qimage  # noqa: E402
from p2phd.editor.qt.tools import ToolManager, brush_step  # noqa: E402
from p2phd.models.labels import colorize  # noqa: E402
from PySide6.QtCore import QPoint, QPointF, Qt  # noqa: E402
from PySide6.QtTest import QTest  # noqa: E402

SKY = 23


@pytest.fixture
def canvas(qtbot):
    tools = ToolManager()
    view = CanvasView(tools)
    doc = Document(256, 128, fill=7)
    tools.set_document(doc)
    view.set_document(doc)
    qtbot.addWidget(view)
    view.resize(600, 300)
    view.show()
    qtbot.waitExposed(view)
    view.fit()
    return view


def test_numpy_qimage_round_trip():
    rgb = np.random.default_rng(0).integers(0, 256, (7, 13, 3), dtype=np.uint8)
    assert np.array_equal(qimage_to_rgb(rgb_to_qimage(rgb)), rgb)
    with pytest.raises(ValueError, match="H x W x 3"):
        rgb_to_qimage(np.zeros((4, 4), np.uint8))


def test_label_image_recolours_only_the_dirty_rect():
    label = np.full((32, 64), 7, np.uint8)
    image = LabelImage(label)
    label[0:10, 0:10] = SKY
    image.update(label, (0, 0, 5, 5))
    assert np.array_equal(image.pixels()[:5, :5], colorize(label[:5, :5]))
    assert np.array_equal(image.pixels()[5:10, 5:10], colorize(np.full((5, 5), 7, np.uint8)))  # untouched
    assert np.array_equal(qimage_to_rgb(image.image)[:5, :5], colorize(label[:5, :5]))  # the QImage shares it
    assert {image.image.pixelColor(x, y).alpha() for x in (0, 3, 40) for y in (0, 3, 20)} == {255}


def test_side_by_side_panes_share_one_transform(canvas):
    (left, kind_l), (right, kind_r) = canvas.panes()
    assert (kind_l, kind_r) == ("label", "result")
    for pane in (left, right):
        p = canvas.to_widget(100.5, 50.5, pane)
        x, y = canvas.to_doc(p)
        assert (int(x), int(y)) == (100, 50)


def test_fit_and_actual_size(canvas):
    canvas.fit()
    pane = canvas.panes()[0][0]
    assert canvas.scale == pytest.approx(min(pane.width() / 256, pane.height() / 128))
    canvas.actual_size()
    assert canvas.scale == 1.0


def test_wheel_zooms_around_the_cursor(canvas, qtbot):
    pane = canvas.panes()[0][0]
    anchor = canvas.to_widget(64, 32, pane)
    before = canvas.scale
    canvas.zoom(2.0, anchor)
    assert canvas.scale == pytest.approx(2 * before)
    x, y = canvas.to_doc(anchor)
    assert (x, y) == pytest.approx((64, 32))


def test_wheel_event_zooms(canvas, qtbot):
    from PySide6.QtCore import QPoint as P
    from PySide6.QtGui import QWheelEvent

    before = canvas.scale
    pos = QPointF(canvas.to_widget(10, 10))
    event = QWheelEvent(
        pos, QPointF(canvas.mapToGlobal(pos.toPoint())), P(0, 0), P(0, 120),
        Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False,
    )  # fmt: skip
    canvas.wheelEvent(event)
    assert canvas.scale == pytest.approx(before * 1.25)


def test_middle_button_and_space_drag_pan_without_painting(canvas, qtbot):
    doc = canvas.document
    before = doc.label.copy()
    start = canvas.offset
    QTest.mousePress(canvas, Qt.MouseButton.MiddleButton, Qt.KeyboardModifier.NoModifier, QPoint(100, 100))
    QTest.mouseMove(canvas, QPoint(130, 110))
    QTest.mouseRelease(canvas, Qt.MouseButton.MiddleButton, Qt.KeyboardModifier.NoModifier, QPoint(130, 110))
    assert canvas.offset - start == QPointF(30, 10)
    QTest.keyPress(canvas, Qt.Key.Key_Space)
    QTest.mousePress(canvas, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, QPoint(100, 100))
    QTest.mouseMove(canvas, QPoint(90, 100))
    QTest.mouseRelease(canvas, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, QPoint(90, 100))
    QTest.keyRelease(canvas, Qt.Key.Key_Space)
    assert canvas.offset - start == QPointF(20, 10)
    assert np.array_equal(doc.label, before)


def test_brush_stroke_updates_the_label_view(canvas):
    canvas.tools.set_label(SKY)
    a, b = canvas.to_widget(20, 20).toPoint(), canvas.to_widget(60, 20).toPoint()
    QTest.mousePress(canvas, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, a)
    QTest.mouseMove(canvas, b)
    QTest.mouseRelease(canvas, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, b)
    assert canvas.document.label[20, 40] == SKY
    assert np.array_equal(canvas.label_image.pixels(), colorize(canvas.document.label))


@pytest.mark.parametrize("mode", ["side", "overlay", "split"])
def test_modes_paint_label_and_result(canvas, mode):
    canvas.set_mode(mode)
    canvas.set_result(rgb_to_qimage(np.full((64, 128, 3), 255, np.uint8)))  # half resolution: scaled up
    canvas.set_opacity(0.0)
    canvas.set_split(0.5)
    shot = qimage_to_rgb(canvas.grab().toImage())
    pane = canvas.panes()[-1][0]
    p = canvas.to_widget(200, 64, pane).toPoint()  # right half of the document
    assert shot[p.y(), p.x()].tolist() == [255, 255, 255]  # the (white) result is shown there
    with pytest.raises(ValueError, match="view mode"):
        canvas.set_mode("cube")


def test_brush_outline_follows_the_cursor(canvas):
    canvas.tools.set_radius(10)
    canvas.actual_size()
    p = canvas.to_widget(100, 60).toPoint()
    QTest.mouseMove(canvas, p)
    shot = qimage_to_rgb(canvas.grab().toImage())
    ring = shot[p.y(), p.x() + 10 - 1 : p.x() + 10 + 2]
    assert (ring == 255).all(axis=1).any()  # the white ring is drawn at the radius


def test_brush_steps():
    assert brush_step(10, True) > 10 and brush_step(10, False) < 10
    assert brush_step(1, False) == 1


def test_edge_layer_follows_edits_made_at_any_display_thickness():
    from p2phd.editor.boundaries import instance_edges, thicken
    from p2phd.editor.geometry import Rect
    from p2phd.editor.qt.overlays import EdgeLayer

    rng = np.random.default_rng(3)
    inst = np.repeat(np.repeat(rng.integers(0, 4, (6, 10)), 8, 0), 8, 1).astype(np.int32) * 1000 + 26
    layer = EdgeLayer(inst, radius=2)
    assert np.array_equal(layer.edges(), thicken(instance_edges(inst), 2))
    inst[10:20, 30:37] = 26999  # edited while thick ...
    layer.update(inst, Rect(30, 10, 37, 20))
    assert layer.set_radius(0) and not layer.set_radius(0)  # ... then zoomed in: the edit's thin edges
    assert np.array_equal(layer.edges(), instance_edges(inst))
    inst[40:44, 5:9] = 7
    layer.update(inst, Rect(5, 40, 9, 44))
    assert layer.set_radius(1)
    assert np.array_equal(layer.edges(), thicken(instance_edges(inst), 1))
