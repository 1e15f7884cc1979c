"""Whole-object operations: relabel, remove, move, duplicate, insert and merge (each one history item)."""

from __future__ import annotations

import cv2
import numpy as np
from p2phd.editor.core import DocumentCore, Edit
from p2phd.editor.errors import DocumentError
from p2phd.editor.geometry import Rect
from p2phd.editor.inpaint import stuff_fill
from p2phd.editor.objects import (
    check_label_id,
    enclosed_small_objects,
    fresh_instance_id,
    object_value,
    require_bbox,
    surrounding_object,
)
from p2phd.editor.styles import Style
from p2phd.models.labels import class_of, is_thing
from p2phd.models.mapfiles.limits import MAX_SIDE

#: An inserted mask may be at most this many times the document's longer side (it is clipped anyway).
MAX_INSERT_FACTOR = 4


def _fill_hole(doc: DocumentCore, e: Edit, object_id: int, box: Rect) -> None:
    """Replace the object's pixels from the stuff around them (see :mod:`p2phd.editor.inpaint`)."""
    crop = box.pad(2).clip(doc.width, doc.height)
    hole = doc.instance[crop.slices] == object_id
    labels, objects = stuff_fill(doc.label[crop.slices], doc.instance[crop.slices], hole)
    e.write(crop, hole, labels, objects)


def _paste(doc: DocumentCore, e: Edit, rect: Rect, mask: np.ndarray, labels: np.ndarray | int, value: int) -> bool:
    """Write ``mask`` (the shape of ``rect``, which may stick out of the image); False if nothing lands."""
    inside = rect.clip(doc.width, doc.height)
    if inside.empty:
        return False
    local = inside.relative_to(rect).slices
    sub = mask[local]
    if not sub.any():
        return False
    values = labels if isinstance(labels, int) else labels[local][sub]
    e.write(inside, sub, values, value)
    return True


def _object_pixels(doc: DocumentCore, object_id: int) -> tuple[Rect, np.ndarray, np.ndarray]:
    box = require_bbox(doc.instance, object_id)
    return box, doc.instance[box.slices] == object_id, doc.label[box.slices].copy()


def _offset(value: int, name: str) -> int:
    try:
        v = int(value)
    except (TypeError, ValueError, OverflowError):
        raise DocumentError(f"{name} must be an int, got {value!r}") from None
    if abs(v) > 4 * MAX_SIDE:
        raise DocumentError(f"{name} must be within +-{4 * MAX_SIDE}, got {v}")
    return v


class ObjectOps(DocumentCore):
    """The whole-object operations of :class:`p2phd.editor.document.Document`."""

    def relabel_object(self, object_id: int, label: int) -> int:
        """Change an object's class (NVIDIA's change_labels); a thing class gets a fresh id and keeps the style."""
        object_id, label = int(object_id), check_label_id(label)
        box, mask, _ = _object_pixels(self, object_id)
        if class_of(object_id) == label:
            return object_id
        new_id = object_value(self.instance, label, self.styles)
        with self.edit("relabel") as e:
            e.write(box, mask, label, new_id)
            style = self.styles.get(object_id)
            if object_id >= 1000:
                self.styles.clear(object_id)
            if style is not None and is_thing(label):
                self.styles.set(new_id, style)
        return new_id

    def remove_object(self, object_id: int) -> None:
        """Delete an object: its pixels are filled from the stuff classes around it (:mod:`~p2phd.editor.inpaint`)."""
        object_id = int(object_id)
        box = require_bbox(self.instance, object_id)
        with self.edit("remove") as e:
            _fill_hole(self, e, object_id, box)
            self.styles.clear(object_id)

    def move_object(self, object_id: int, dx: int, dy: int) -> None:
        """Shift an object by (dx, dy); uncovered pixels are filled as in :meth:`remove_object`."""
        object_id, dx, dy = int(object_id), _offset(dx, "dx"), _offset(dy, "dy")
        box, mask, labels = _object_pixels(self, object_id)
        if dx == 0 and dy == 0:
            return
        with self.edit("move") as e:
            _fill_hole(self, e, object_id, box)
            if not _paste(self, e, box.shift(dx, dy), mask, labels, object_id):
                self.styles.clear(object_id)  # moved out of the image: no trace left

    def duplicate_object(self, object_id: int, dx: int, dy: int) -> int:
        """Copy an object, shifted by (dx, dy), as a new instance with the same style; returns its id."""
        object_id, dx, dy = int(object_id), _offset(dx, "dx"), _offset(dy, "dy")
        box, mask, labels = _object_pixels(self, object_id)
        if dx == 0 and dy == 0:
            raise DocumentError("a duplicate needs an offset: (0, 0) would cover the original")
        new_id = fresh_instance_id(self.instance, class_of(object_id), self.styles) if object_id >= 1000 else object_id
        with self.edit("duplicate") as e:
            if not _paste(self, e, box.shift(dx, dy), mask, labels, new_id):
                raise DocumentError(f"the copy shifted by ({dx}, {dy}) lies outside the image")
            if new_id != object_id:
                self.styles.copy_style(object_id, new_id)
        return new_id

    def insert_object(
        self,
        mask: np.ndarray,
        label: int,
        x: int,
        y: int,
        style: Style | None = None,
        scale: float = 1.0,
        flip: bool = False,
    ) -> int:
        """Place a binary mask (e.g. from the object library) with its top-left corner at (x, y).

        ``scale`` resizes the mask (nearest neighbour), ``flip`` mirrors it left-right, ``style`` is an
        optional cluster index or feature vector. Returns the new object id.
        """
        label = check_label_id(label)
        x, y = _offset(x, "x"), _offset(y, "y")
        shape = _prepared_mask(mask, scale, flip, MAX_INSERT_FACTOR * max(self.width, self.height))
        value = object_value(self.instance, label, self.styles)
        rect = Rect(x, y, x + shape.shape[1], y + shape.shape[0])
        with self.edit("insert") as e:
            if not _paste(self, e, rect, shape, label, value):
                raise DocumentError(f"the object placed at ({x}, {y}) lies outside the image")
            if style is not None and is_thing(label):
                self.styles.set(value, style)
        return value

    def merge_object(self, object_id: int, into: int | None = None) -> int:
        """Merge an object into another (by default the one around it): its pixels take that object's
        label and id, its style is dropped. One undo step; returns the id merged into."""
        object_id = int(object_id)
        box, mask, _ = _object_pixels(self, object_id)
        if into is None:
            into, _share = surrounding_object(self.instance, object_id)
            if into < 0:
                raise DocumentError(f"object {object_id} has no surrounding object to merge into")
        into = int(into)
        if into == object_id:
            raise DocumentError(f"object {object_id} cannot be merged into itself")
        target_label = class_of(into)
        if into >= 1000 and self.object_area(into) == 0:
            raise DocumentError(f"there is no object {into} in the document")
        check_label_id(target_label)
        with self.edit("merge") as e:
            e.write(box, mask, target_label, into)
            if object_id >= 1000:
                self.styles.clear(object_id)
        return into

    def small_objects(self, min_area: int | None = None) -> list[tuple[int, int, int]]:
        """``(id, area, surrounding id)`` of small instances lying inside another instance (stray clicks).

        ``min_area`` defaults to :func:`p2phd.editor.objects.small_object_area` of the document size.
        """
        return enclosed_small_objects(self.instance, min_area)

    def merge_small_objects(self, min_area: int | None = None) -> list[int]:
        """Merge every object of :meth:`small_objects` into the object around it, as one undo step."""
        found = self.small_objects(min_area)
        with self.edit("merge small objects"):
            for oid, _area, around in found:
                self.merge_object(oid, around if self.object_area(around) else None)
        return [oid for oid, _, _ in found]


def prepare_insert_mask(
    mask: np.ndarray, scale: float = 1.0, flip: bool = False, max_side: int = 4 * MAX_SIDE
) -> np.ndarray:
    """The bool mask :meth:`ObjectOps.insert_object` pastes for ``mask`` at ``scale`` and ``flip`` (previews)."""
    return _prepared_mask(mask, scale, flip, max_side)


def _prepared_mask(mask: np.ndarray, scale: float, flip: bool, max_side: int) -> np.ndarray:
    arr = np.asarray(mask)
    if arr.ndim != 2 or arr.size == 0:
        raise DocumentError(f"an object mask must be a non-empty 2-D array, got shape {arr.shape}")
    arr = arr.astype(bool)
    if not arr.any():
        raise DocumentError("the object mask is empty (no pixel set)")
    try:
        scale = float(scale)
    except (TypeError, ValueError, OverflowError):
        raise DocumentError(f"scale must be a number > 0, got {scale!r}") from None
    if not (np.isfinite(scale) and scale > 0):
        raise DocumentError(f"scale must be > 0, got {scale}")
    size = (max(1, round(arr.shape[1] * scale)), max(1, round(arr.shape[0] * scale)))
    if max(size) > max_side or max(arr.shape) > max_side:
        raise DocumentError(
            f"scale {scale:g} makes the {arr.shape[1]}x{arr.shape[0]} mask {size[0]}x{size[1]} pixels: "
            f"at most {max_side} per side for this document"
        )
    if scale != 1.0:
        arr = cv2.resize(arr.view(np.uint8), size, interpolation=cv2.INTER_NEAREST).astype(bool)
        if not arr.any():
            raise DocumentError(f"the object vanishes at scale {scale}")
    return arr[:, ::-1] if flip else arr
