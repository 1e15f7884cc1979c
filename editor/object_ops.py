"""Whole-object operations: relabel, remove, move, duplicate and insert (each one history item)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import cv2
import numpy as np
from p2phd.editor.errors import DocumentError
from p2phd.editor.geometry import Rect
from p2phd.editor.inpaint import nearest_fill
from p2phd.editor.objects import check_label_id, fresh_instance_id, object_value, require_bbox
from p2phd.editor.styles import Style, normalize_style
from p2phd.models.labels import class_of, is_thing

if TYPE_CHECKING:
    from p2phd.editor.document import Document


def _fill_hole(doc: Document, object_id: int, box: Rect) -> None:
    """Replace the object's pixels by their nearest surroundings (inside an open edit)."""
    # One pixel of margin is enough: a pixel just outside the box is closer than anything beyond it.
    crop = box.pad(2).clip(doc.width, doc.height)
    hole = doc.instance[crop.slices] == object_id
    labels, objects = nearest_fill(doc.label[crop.slices], doc.instance[crop.slices], hole)
    doc._write(crop, hole, labels, objects)


def _paste(doc: Document, rect: Rect, mask: np.ndarray, labels: np.ndarray | int, value: int) -> bool:
    """Write ``mask`` (the shape of ``rect``, which may stick out of the image); False if nothing lands."""
    inside = rect.clip(doc.width, doc.height)
    if inside.empty:
        return False
    local = inside.relative_to(rect).slices
    sub = mask[local]
    if not sub.any():
        return False
    values = labels if isinstance(labels, int) else labels[local][sub]
    doc._write(inside, sub, values, value)
    return True


def _object_pixels(doc: Document, object_id: int) -> tuple[Rect, np.ndarray, np.ndarray]:
    box = require_bbox(doc.instance, object_id)
    return box, doc.instance[box.slices] == object_id, doc.label[box.slices].copy()


def relabel_object(doc: Document, object_id: int, label: int) -> int:
    """Change an object's class (NVIDIA's change_labels); a thing class gets a fresh id and keeps the style."""
    object_id, label = int(object_id), check_label_id(label)
    box, mask, _ = _object_pixels(doc, object_id)
    if class_of(object_id) == label:
        return object_id
    new_id = object_value(doc.instance, label, doc.styles)
    with doc._edit("relabel"):
        doc._write(box, mask, label, new_id)
        style = doc.styles.get(object_id)
        if object_id >= 1000:
            doc.styles.clear(object_id)
        if style is not None and is_thing(label):
            doc.styles._set(new_id, style)
    return new_id


def remove_object(doc: Document, object_id: int) -> None:
    """Delete an object: its pixels take the label and object of the nearest surrounding pixels."""
    object_id = int(object_id)
    box = require_bbox(doc.instance, object_id)
    with doc._edit("remove"):
        _fill_hole(doc, object_id, box)
        doc.styles.clear(object_id)


def move_object(doc: Document, object_id: int, dx: int, dy: int) -> None:
    """Shift an object by (dx, dy); uncovered pixels are filled as in :func:`remove_object`."""
    object_id, dx, dy = int(object_id), int(dx), int(dy)
    box, mask, labels = _object_pixels(doc, object_id)
    if dx == 0 and dy == 0:
        return
    with doc._edit("move"):
        _fill_hole(doc, object_id, box)
        if not _paste(doc, box.shift(dx, dy), mask, labels, object_id):
            doc.styles.clear(object_id)  # moved out of the image: no trace left


def duplicate_object(doc: Document, object_id: int, dx: int, dy: int) -> int:
    """Copy an object, shifted by (dx, dy), as a new instance with the same style; returns its id."""
    object_id, dx, dy = int(object_id), int(dx), int(dy)
    box, mask, labels = _object_pixels(doc, object_id)
    if dx == 0 and dy == 0:
        raise DocumentError("a duplicate needs an offset: (0, 0) would cover the original")
    new_id = fresh_instance_id(doc.instance, class_of(object_id), doc.styles) if object_id >= 1000 else object_id
    with doc._edit("duplicate"):
        if not _paste(doc, box.shift(dx, dy), mask, labels, new_id):
            raise DocumentError(f"the copy shifted by ({dx}, {dy}) lies outside the image")
        if new_id != object_id:
            doc.styles.copy_style(object_id, new_id)
    return new_id


def insert_object(
    doc: Document,
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
    shape = _prepared_mask(mask, scale, flip)
    value = object_value(doc.instance, label, doc.styles)
    rect = Rect(int(x), int(y), int(x) + shape.shape[1], int(y) + shape.shape[0])
    with doc._edit("insert"):
        if not _paste(doc, rect, shape, label, value):
            raise DocumentError(f"the object placed at ({x}, {y}) lies outside the image")
        if style is not None and is_thing(label):
            doc.styles._set(value, normalize_style(style))
    return value


def prepare_insert_mask(mask: np.ndarray, scale: float = 1.0, flip: bool = False) -> np.ndarray:
    """The bool mask :func:`insert_object` pastes for ``mask`` at ``scale`` and ``flip`` (e.g. for a preview)."""
    return _prepared_mask(mask, scale, flip)


def _prepared_mask(mask: np.ndarray, scale: float, flip: bool) -> np.ndarray:
    arr = np.asarray(mask)
    if arr.ndim != 2 or arr.size == 0:
        raise DocumentError(f"an object mask must be a non-empty 2-D array, got shape {arr.shape}")
    arr = arr.astype(bool)
    if not arr.any():
        raise DocumentError("the object mask is empty (no pixel set)")
    if not (np.isfinite(scale) and scale > 0):
        raise DocumentError(f"scale must be > 0, got {scale}")
    if scale != 1.0:
        size = (max(1, round(arr.shape[1] * scale)), max(1, round(arr.shape[0] * scale)))
        arr = cv2.resize(arr.view(np.uint8), size, interpolation=cv2.INTER_NEAREST).astype(bool)
        if not arr.any():
            raise DocumentError(f"the object vanishes at scale {scale}")
    return arr[:, ::-1] if flip else arr
