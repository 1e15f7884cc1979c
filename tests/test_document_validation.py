"""Bad arguments to document operations are DocumentErrors with a clear message (issue 13 item 9),
and far-away points paint the right side of the image."""

import numpy as np
import pytest
from p2phd.editor.brush import MAX_RADIUS
from p2phd.editor.document import Document
from p2phd.editor.errors import DocumentError

ROAD, SKY, CAR = 7, 23, 26


@pytest.fixture
def doc():
    return Document(256, 128, fill=ROAD)


@pytest.mark.parametrize("radius", [2**31, 20_000, MAX_RADIUS + 1, -1, 2.5, float("nan"), "12"])
def test_absurd_brush_radius(doc, radius):
    for points in ([(100, 100)], [(100, 100), (120, 100)]):
        with pytest.raises(DocumentError, match="radius"):
            doc.paint_stroke(points, CAR, radius)
    with pytest.raises(DocumentError, match="radius"):
        doc.begin_erase(radius)
    assert (doc.label == ROAD).all() and not doc.editing


def test_the_largest_radius_works_with_far_points(doc):
    doc.paint_stroke([(-5000, -5000), (5000, 5000)], SKY, MAX_RADIUS)
    assert (doc.label == SKY).all()


def test_a_stroke_toward_a_far_point_paints_toward_it(doc):
    doc.paint_stroke([(100, 100), (1e12, 100)], CAR, 3)
    painted = np.flatnonzero(doc.label[100] == CAR)
    assert painted.min() == 97 and painted.max() == 255  # from the first point to the right edge
    assert (doc.label[:, :97] == ROAD).all()
    doc.paint_stroke([(50, 50), (-1e15, 50)], SKY, 1)
    painted = np.flatnonzero(doc.label[50] == SKY)
    assert painted.min() == 0 and painted.max() == 51


def test_a_diagonal_far_segment_crosses_the_image_where_the_line_does(doc):
    doc.paint_stroke([(0, 0), (1e9, 1e9)], SKY, 0)  # the diagonal y = x
    ys, xs = np.nonzero(doc.label == SKY)
    assert len(xs) and (np.abs(xs - ys) <= 1).all() and xs.max() >= 126


@pytest.mark.parametrize("points", [[(1e300, 5)], [(5, float("inf"))], [(2.0**60, 1)], [("a", "b")]])
def test_unusable_points(doc, points):
    with pytest.raises(DocumentError, match="point"):
        doc.paint_stroke(points, CAR, 3)


def test_far_polygon_points_are_clipped_not_overflowed(doc):
    doc.fill_polygon([(10, 10), (1e12, 10), (1e12, 20), (10, 20)], SKY)
    rows, cols = np.nonzero(doc.label == SKY)
    assert rows.min() == 10 and rows.max() == 20 and cols.min() == 10 and cols.max() == 255


@pytest.mark.parametrize("scale", [1e5, 1e300, float("inf"), 0, -1, "big"])
def test_insert_object_absurd_scale(doc, scale):
    with pytest.raises(DocumentError, match="scale"):
        doc.insert_object(np.ones((30, 40), bool), CAR, 10, 10, scale=scale)
    assert not doc.history.can_undo


def test_insert_object_far_position(doc):
    with pytest.raises(DocumentError):
        doc.insert_object(np.ones((3, 3), bool), CAR, 10**30, 0)
    with pytest.raises(DocumentError, match="outside"):
        doc.insert_object(np.ones((3, 3), bool), CAR, 10**4, 0)


@pytest.mark.parametrize("k", [10**30, 0, -3, 2.5, True, "4"])
def test_randomize_style_bad_k(doc, k):
    car = doc.paint_stroke([(10, 10)], CAR, 3)
    with pytest.raises(DocumentError, match="clusters"):
        doc.randomize_style(car, k)
    assert doc.styles.get(car) is None


def test_randomize_style_bad_seed(doc):
    with pytest.raises(DocumentError, match="seed"):
        doc.randomize_style(26000, 4, seed=-1)


@pytest.mark.parametrize("offset", [10**30, float("nan"), "x"])
def test_move_and_duplicate_bad_offsets(doc, offset):
    car = doc.paint_stroke([(10, 10)], CAR, 3)
    with pytest.raises(DocumentError):
        doc.move_object(car, offset, 0)
    with pytest.raises(DocumentError):
        doc.duplicate_object(car, 0, offset)


@pytest.mark.parametrize("object_id, cluster", [(10**30, 1), (-1, 1), (26000, 10**30), (26000, -2)])
def test_set_style_bounds(doc, object_id, cluster):
    with pytest.raises(DocumentError):
        doc.set_style(object_id, cluster)
    assert len(doc.styles) == 0 and not doc.history.can_undo
