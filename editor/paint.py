"""Painting operations: brush strokes (incremental), eraser, flood fill, polygon fill."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
from p2phd.editor.brush import Point, as_points, check_radius, polygon_mask, segment_mask
from p2phd.editor.core import DocumentCore, Session
from p2phd.editor.errors import DocumentError
from p2phd.editor.geometry import Rect
from p2phd.editor.objects import MAX_INSTANCES_PER_CLASS, check_label_id, largest_in_range, object_value
from p2phd.models.labels import class_of, is_thing


def stroke_object(doc: DocumentCore, label: int, x: int, y: int, new_instance: bool) -> int:
    """The instance value a stroke (or polygon) of ``label`` starting at (x, y) writes.

    A thing-class stroke that starts inside an instance of its class extends that instance. Elsewhere
    ``new_instance`` decides: a fresh instance id, or (False) the newest instance of the class, so that
    several strokes build one object.
    """
    if not is_thing(label):
        return int(label)
    if 0 <= x < doc.width and 0 <= y < doc.height:
        under = int(doc.instance[y, x])
        if under >= 1000 and class_of(under) == label:
            return under
    if not new_instance:
        newest = largest_in_range(doc.instance, label * 1000, label * 1000 + MAX_INSTANCES_PER_CLASS)
        if newest >= 0:
            return newest
    return doc.new_instance_id(label)


class Stroke(Session):
    """A brush stroke in progress: one history item, painted dab by dab as points arrive.

    Each :meth:`add_point` paints the segment from the previous point and emits a change event with
    its dirty rectangle. Finish with :meth:`commit` (returns the object id) or :meth:`abort`; used as
    a context manager it commits, or aborts on an exception.
    """

    def __init__(
        self,
        doc: DocumentCore,
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
        self._edit = doc.edit(action)

    def add_point(self, x: float, y: float) -> None:
        if not self._edit.open:
            raise DocumentError("this stroke is already finished")
        point = as_points([(x, y)])[0]
        doc = self._doc
        if self.object_id is None:
            self.object_id = stroke_object(doc, self.label, int(point[0]), int(point[1]), self.new_instance)
        start = point if self._last is None else self._last
        self._last = point
        rect, mask = segment_mask(start, point, self.radius, doc.width, doc.height)
        if rect.empty:
            return
        if self.preserve is not None:
            mask &= doc.label[rect.slices] == self.preserve
        self._edit.write(rect, mask, self.label, self.object_id)
        self._edit.show(rect)

    def add_points(self, points: Sequence[Point]) -> None:
        for x, y in as_points(points):
            self.add_point(x, y)

    def commit(self) -> int | None:
        """End the stroke as one history item; returns the object id painted (None without points)."""
        self._edit.commit()
        return self.object_id

    def abort(self) -> None:
        """Undo every dab of this stroke; nothing enters the history."""
        self._edit.abort()


class PaintOps(DocumentCore):
    """The painting operations of :class:`p2phd.editor.document.Document`."""

    def begin_stroke(self, label: int, radius: int, new_instance: bool = True, preserve: int | None = None) -> Stroke:
        """Start a brush stroke; feed it with ``add_point(x, y)`` and finish with ``commit()``/``abort()``.

        A thing-class stroke that starts inside an instance of its class extends it; elsewhere it gets a
        fresh instance id, or with ``new_instance=False`` continues the class's newest instance.
        ``preserve`` paints only over that label.
        """
        return Stroke(self, label, radius, new_instance, preserve)

    def paint_stroke(
        self,
        points: Sequence[Point],
        label: int,
        radius: int,
        new_instance: bool = True,
        preserve: int | None = None,
    ) -> int:
        """A whole round-brush stroke along a polyline of (x, y) points; returns the object id painted."""
        return self._whole_stroke(points, label, radius, new_instance, preserve, "stroke")

    def begin_erase(self, radius: int, fallback: int = 0) -> Stroke:
        """An eraser stroke: paints ``fallback`` (e.g. road), as a new object for thing classes."""
        return Stroke(self, fallback, radius, True, None, action="erase")

    def erase_stroke(self, points: Sequence[Point], radius: int, fallback: int = 0) -> int:
        return self._whole_stroke(points, fallback, radius, True, None, "erase")

    def _whole_stroke(
        self, points: Sequence[Point], label: int, radius: int, new_instance: bool, preserve: int | None, action: str
    ) -> int:
        pts = as_points(points)
        with Stroke(self, label, radius, new_instance, preserve, action) as stroke:
            stroke.add_points(pts)
        return int(stroke.object_id)

    def fill(self, x: int, y: int, label: int) -> int:
        """Flood-fill the 4-connected region of the object under (x, y); returns the object id written."""
        label = check_label_id(label)
        x, y = self.check_xy(x, y)
        seed_label, seed_object = int(self.label[y, x]), int(self.instance[y, x])
        same = ((self.label == seed_label) & (self.instance == seed_object)).view(np.uint8)
        region = np.zeros((self.height + 2, self.width + 2), np.uint8)
        flags = 4 | cv2.FLOODFILL_MASK_ONLY | cv2.FLOODFILL_FIXED_RANGE | (1 << 8)
        _, _, _, (rx, ry, rw, rh) = cv2.floodFill(same, region, (x, y), 1, 0, 0, flags)
        rect = Rect(rx, ry, rx + rw, ry + rh)
        mask = region[1:-1, 1:-1][rect.slices].astype(bool)
        value = object_value(self.instance, label, self.styles)
        with self.edit("fill") as e:
            e.write(rect, mask, label, value)
        return value

    def fill_polygon(
        self, points: Sequence[Point], label: int, new_instance: bool = True, preserve: int | None = None
    ) -> int:
        """Fill a polygon / lasso outline (closed automatically) with ``label``."""
        label = check_label_id(label)
        preserve = None if preserve is None else check_label_id(preserve)
        pts = as_points(points, minimum=3)
        value = stroke_object(self, label, int(pts[0][0]), int(pts[0][1]), new_instance)
        rect, mask = polygon_mask(pts, self.width, self.height)
        if preserve is not None and not rect.empty:
            mask &= self.label[rect.slices] == preserve
        with self.edit("polygon") as e:
            e.write(rect, mask, label, value)
        return value
