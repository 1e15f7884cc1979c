"""Objects of the instance map: listing, bounding boxes, areas and fresh instance ids."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from p2phd.editor.errors import DocumentError
from p2phd.editor.geometry import EMPTY, Rect
from p2phd.models.labels import BY_ID, class_of, is_thing

MAX_INSTANCES_PER_CLASS = 1000


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
    in_map = inst[(inst >= base) & (inst < top)]
    used = {int(t) for t in taken if base <= int(t) < top}
    highest = max(int(in_map.max()) if in_map.size else -1, max(used, default=-1))
    if highest < base:
        return base
    if highest + 1 < top:
        return highest + 1
    used |= set(np.unique(in_map).tolist())
    for candidate in range(base, top):
        if candidate not in used:
            return candidate
    raise DocumentError(f"class {BY_ID[label].name} already has {MAX_INSTANCES_PER_CLASS} instances")


def object_value(inst: np.ndarray, label: int, taken: Iterable[int] = ()) -> int:
    """The instance-map value new pixels of ``label`` get: a fresh id for things, the class id for stuff."""
    return fresh_instance_id(inst, label, taken) if is_thing(label) else int(label)
