"""Objects of the instance map: listing, bounding boxes, areas and fresh instance ids."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from p2phd.editor.errors import DocumentError
from p2phd.editor.geometry import EMPTY, Rect
from p2phd.models.labels import BY_ID, class_of, is_thing

MAX_INSTANCES_PER_CLASS = 1000
#: An instance inside another one is "small" below this share of the image (a stray click of the brush).
SMALL_OBJECT_FRACTION = 1 / 4096
#: ... and "inside" when at least this share of its outline touches that one other object.
ENCLOSED_SHARE = 0.9


@dataclass(frozen=True)
class ObjectInfo:
    id: int
    label: int
    area: int

    @property
    def name(self) -> str:
        lab = BY_ID.get(self.label)
        return lab.name if lab else f"id {self.label}"

    @property
    def is_instance(self) -> bool:
        """A thing instance (``class*1000+n``), as opposed to stuff or a crowd region."""
        return self.id >= 1000


def check_label_id(label: int) -> int:
    value = int(label)
    if value not in BY_ID:
        raise DocumentError(f"{label!r} is not a Cityscapes label id (0..33)")
    return value


def list_objects(inst: np.ndarray, instances_only: bool = False) -> list[ObjectInfo]:
    ids, counts = np.unique(inst, return_counts=True)
    out = [ObjectInfo(int(i), class_of(int(i)), int(c)) for i, c in zip(ids, counts)]
    return [o for o in out if o.is_instance] if instances_only else out


def object_bbox(inst: np.ndarray, object_id: int) -> Rect:
    """Tight box of the object's pixels; the empty rectangle when it is absent."""
    return Rect.from_mask(inst == int(object_id))


def object_area(inst: np.ndarray, object_id: int) -> int:
    return int(np.count_nonzero(inst == int(object_id)))


def require_bbox(inst: np.ndarray, object_id: int) -> Rect:
    box = object_bbox(inst, object_id)
    if box is EMPTY or box.empty:
        raise DocumentError(f"there is no object {int(object_id)} in the document")
    return box


def fresh_instance_id(inst: np.ndarray, label: int, taken: Iterable[int] = ()) -> int:
    """``label*1000 + n`` with ``n`` one past the largest in use (the map and ``taken``), else a free gap."""
    if not is_thing(label):
        raise DocumentError(f"class {label} ({BY_ID[label].name}) is stuff: it has no instances")
    base = int(label) * 1000
    top = base + MAX_INSTANCES_PER_CLASS
    used = {int(t) for t in taken if base <= int(t) < top}
    highest = max(largest_in_range(inst, base, top), max(used, default=-1))
    if highest < base:
        return base
    if highest + 1 < top:
        return highest + 1
    used |= set(np.unique(inst[(inst >= base) & (inst < top)]).tolist())
    for candidate in range(base, top):
        if candidate not in used:
            return candidate
    raise DocumentError(f"class {BY_ID[label].name} already has {MAX_INSTANCES_PER_CLASS} instances")


def largest_in_range(inst: np.ndarray, lo: int, hi: int, rows: int = 32) -> int:
    """The largest value of ``inst`` in ``[lo, hi)``, or -1: band by band, so that the comparisons stay
    in the cache (one read of the map instead of five passes; it runs on the UI thread at a stroke's
    start, beside a renderer that loads the memory bus)."""
    largest = -1
    for y in range(0, inst.shape[0], rows):
        band = inst[y : y + rows]
        inside = band >= lo
        inside &= band < hi
        if inside.any():
            largest = max(largest, int(band[inside].max()))
    return largest


def object_value(inst: np.ndarray, label: int, taken: Iterable[int] = ()) -> int:
    """The instance-map value new pixels of ``label`` get: a fresh id for things, the class id for stuff."""
    return fresh_instance_id(inst, label, taken) if is_thing(label) else int(label)


def small_object_area(width: int, height: int) -> int:
    """The default area (pixels) below which an instance counts as small: 512 px at 2048x1024."""
    return max(16, int(int(width) * int(height) * SMALL_OBJECT_FRACTION))


def surrounding_object(inst: np.ndarray, object_id: int) -> tuple[int, float]:
    """The object most common on the 1-pixel ring around ``object_id`` (8-neighbours) and its share of the ring.

    ``(-1, 0.0)`` when the object fills the image or is absent.
    """
    box = object_bbox(inst, object_id)
    if box.empty:
        return -1, 0.0
    crop = box.pad(1).clip(inst.shape[1], inst.shape[0])
    sub = inst[crop.slices]
    own = sub == int(object_id)
    grown = np.zeros_like(own)
    h, w = own.shape
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            grown[max(0, dy) : h + min(0, dy), max(0, dx) : w + min(0, dx)] |= own[
                max(0, -dy) : h + min(0, -dy), max(0, -dx) : w + min(0, -dx)
            ]
    ring = sub[grown & ~own]
    if ring.size == 0:
        return -1, 0.0
    ids, counts = np.unique(ring, return_counts=True)
    best = int(np.argmax(counts))
    return int(ids[best]), float(counts[best]) / ring.size


def enclosed_small_objects(inst: np.ndarray, min_area: int | None = None) -> list[tuple[int, int, int]]:
    """``(id, area, surrounding id)`` of instances smaller than ``min_area`` lying inside another instance.

    ``min_area`` defaults to :func:`small_object_area`. "Inside" means at least ``ENCLOSED_SHARE`` of
    the object's outline touches one other instance (e.g. a stray brush click that made a new car in
    a car).
    """
    limit = small_object_area(inst.shape[1], inst.shape[0]) if min_area is None else int(min_area)
    ids, counts = np.unique(inst[inst >= 1000], return_counts=True)
    found = []
    for oid, area in zip(ids.tolist(), counts.tolist()):
        if area >= limit:
            continue
        around, share = surrounding_object(inst, oid)
        if around >= 1000 and share >= ENCLOSED_SHARE:
            found.append((oid, area, around))
    return found
