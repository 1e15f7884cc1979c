"""Painting operations: brush strokes (incremental), eraser, flood fill, polygon fill, picking."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import cv2
import numpy as np
from p2phd.editor.brush import Point, as_points, check_radius, polygon_mask, segment_mask
from p2phd.editor.errors import DocumentError
from p2phd.editor.geometry import Rect
from p2phd.editor.objects import check_label_id, object_value
from p2phd.models.labels import class_of, is_thing

if TYPE_CHECKING:
    from p2phd.editor.document import Document


def _stroke_object(doc: Document, label: int, x: int, y: int, new_instance: bool) -> int:
    """The instance value a stroke starting at (x, y) writes (see :meth:`Document.paint_stroke`)."""
    if is_thing(label) and not new_instance and 0 <= x < doc.width and 0 <= y < doc.height:
        under = int(doc.instance[y, x])
        if class_of(under) == label:
            return under
    return object_value(doc.instance, label, doc.styles)


class Stroke:
    """A brush stroke in progress: one history item, painted dab by dab as points arrive.

    Each :meth:`add_point` paints the segment from the previous point and emits a change event with
    its dirty rectangle. Finish with :meth:`commit` (returns the object id) or :meth:`abort`; used as
    a context manager it commits, or aborts on an exception.
    """

    def __init__(
        self,
        doc: Document,
        label: int,
        radius: int,
        new_instance: bool = True,
        preserve: int | None = None,
        action: str = "stroke",
    ) -> None:
        self.label = check_label_id(label)
        self.radius = check_radius(radius)
        self.preserve = None if preserve is None else check_label_id(preserve)
        self.new_instance = bool(new_instance)
        self.object_id: int | None = None
        self._doc = doc
        self._last: np.ndarray | None = None
        self._open = True
        doc._begin(action)

    def add_point(self, x: float, y: float) -> None:
        if not self._open:
            raise DocumentError("this stroke is already finished")
        point = as_points([(x, y)])[0]
        doc = self._doc
        if self.object_id is None:
            self.object_id = _stroke_object(doc, self.label, int(point[0]), int(point[1]), self.new_instance)
        start = point if self._last is None else self._last
        self._last = point
        rect, mask = segment_mask(start, point, self.radius, doc.width, doc.height)
        if rect.empty:
            return
        if self.preserve is not None:
            mask &= doc.label[rect.slices] == self.preserve
        doc._write(rect, mask, self.label, self.object_id)
        doc._emit_live(rect)

    def add_points(self, points: Sequence[Point]) -> None:
        for x, y in as_points(points):
            self.add_point(x, y)

    def commit(self) -> int | None:
        """End the stroke as one history item; returns the object id painted (None without points)."""
        if self._open:
            self._open = False
            self._doc._commit()
        return self.object_id

    def abort(self) -> None:
        """Undo every dab of this stroke; nothing enters the history."""
        if self._open:
            self._open = False
            self._doc._abort()

    def __enter__(self) -> Stroke:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.abort()


def paint_stroke(
    doc: Document,
    points: Sequence[Point],
    label: int,
    radius: int,
    new_instance: bool = True,
    preserve: int | None = None,
    action: str = "stroke",
) -> int:
    pts = as_points(points)
    with Stroke(doc, label, radius, new_instance, preserve, action) as stroke:
        stroke.add_points(pts)
    return int(stroke.object_id)


def fill(doc: Document, x: int, y: int, label: int) -> int:
    """Flood-fill the 4-connected region of the object under (x, y) with ``label``."""
    label = check_label_id(label)
    x, y = doc._check_xy(x, y)
    seed_label, seed_object = int(doc.label[y, x]), int(doc.instance[y, x])
    same = ((doc.label == seed_label) & (doc.instance == seed_object)).view(np.uint8)
    region = np.zeros((doc.height + 2, doc.width + 2), np.uint8)
    flags = 4 | cv2.FLOODFILL_MASK_ONLY | cv2.FLOODFILL_FIXED_RANGE | (1 << 8)
    _, _, _, (rx, ry, rw, rh) = cv2.floodFill(same, region, (x, y), 1, 0, 0, flags)
    rect = Rect(rx, ry, rx + rw, ry + rh)
    mask = region[1:-1, 1:-1][rect.slices].astype(bool)
    value = object_value(doc.instance, label, doc.styles)
    with doc._edit("fill"):
        doc._write(rect, mask, label, value)
    return value


def fill_polygon(
    doc: Document, points: Sequence[Point], label: int, new_instance: bool = True, preserve: int | None = None
) -> int:
    """Fill a polygon / lasso outline (closed automatically) with ``label``."""
    label = check_label_id(label)
    preserve = None if preserve is None else check_label_id(preserve)
    pts = as_points(points, minimum=3)
    value = _stroke_object(doc, label, int(pts[0][0]), int(pts[0][1]), new_instance)
    rect, mask = polygon_mask(pts, doc.width, doc.height)
    if preserve is not None and not rect.empty:
        mask &= doc.label[rect.slices] == preserve
    with doc._edit("polygon"):
        doc._write(rect, mask, label, value)
    return value


def pick(doc: Document, x: int, y: int) -> tuple[int, int]:
    """(label id, object id) under (x, y)."""
    x, y = doc._check_xy(x, y)
    return int(doc.label[y, x]), int(doc.instance[y, x])
