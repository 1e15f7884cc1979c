"""Frozen inference requests and results: snapshots the worker thread can hold without locks."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np
from p2phd.models.engine.gil_copy import copy_holding_gil, is_immutable
from p2phd.models.errors import InputMapError

Rect = tuple[int, int, int, int]  # x0, y0, x1, y1 (exclusive), in pixels of the label map


class RunCancelledError(Exception):
    """Raised by an engine stage when ``should_cancel()`` turned true; the run is abandoned."""


def _frozen_copy(array: np.ndarray | None, name: str) -> np.ndarray | None:
    if array is None:
        return None
    if not isinstance(array, np.ndarray):
        raise InputMapError(f"{name} must be a numpy array, not {type(array).__name__}")
    if is_immutable(array):  # already a frozen copy (the same revision's maps): shared, not copied
        return array
    return copy_holding_gil(array)  # a stroke's request: ~2 ms instead of 12-15 ms on the UI thread


def union_rect(a: Rect | None, b: Rect | None) -> Rect | None:
    """Smallest rectangle holding both; ``None`` stands for the whole frame and absorbs the other."""
    if a is None or b is None:
        return None
    return min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])


@dataclass(frozen=True)
class EngineRequest:
    """What to synthesize, frozen: the arrays are private read-only copies.

    ``styles`` maps object id -> cluster index or feature vector; ``feature_map`` (feat_num x H x W)
    overrides it. ``dirty`` is the rectangle changed since the previous request (``None``: all of
    it). ``preview`` asks for a fast stroke preview instead of an exact full frame.
    """

    label: np.ndarray
    instance: np.ndarray | None = None
    styles: Mapping[int, int | np.ndarray] = field(default_factory=dict)
    feature_map: np.ndarray | None = None
    revision: int = 0
    dirty: Rect | None = None
    preview: bool = False

    def __post_init__(self):
        label = _frozen_copy(self.label, "label")
        if label is None or label.ndim != 2:
            raise InputMapError("label must be a 2-D array")
        instance = _frozen_copy(self.instance, "instance")
        if instance is not None and instance.shape != label.shape:
            raise InputMapError(f"instance map {instance.shape} and label map {label.shape} differ in shape")
        object.__setattr__(self, "label", label)
        object.__setattr__(self, "instance", instance)
        object.__setattr__(self, "feature_map", _frozen_copy(self.feature_map, "feature_map"))
        styles = {
            int(k): (int(v) if np.isscalar(v) else _frozen_copy(np.asarray(v, np.float32), "style"))
            for k, v in dict(self.styles).items()
        }
        object.__setattr__(self, "styles", MappingProxyType(styles))
        if self.dirty is not None:
            object.__setattr__(self, "dirty", self._checked_rect(self.dirty))

    def _checked_rect(self, rect) -> Rect:
        if len(rect) != 4:
            raise InputMapError(f"dirty rectangle must be (x0, y0, x1, y1), got {rect!r}")
        h, w = self.label.shape
        x0, y0, x1, y1 = (int(v) for v in rect)
        x0, y0, x1, y1 = max(0, x0), max(0, y0), min(w, x1), min(h, y1)
        if x1 <= x0 or y1 <= y0:
            raise InputMapError(f"dirty rectangle {rect!r} is empty inside the {w}x{h} map")
        return x0, y0, x1, y1

    @property
    def size(self) -> tuple[int, int]:
        """(width, height)."""
        return self.label.shape[1], self.label.shape[0]

    def superseding(self, older: EngineRequest) -> EngineRequest:
        """This request with the dirty area of a dropped ``older`` one folded in, so nothing is lost."""
        if older.label.shape != self.label.shape:
            return self._replace(dirty=None)
        return self._replace(dirty=union_rect(self.dirty, older.dirty))

    def _replace(self, **changes) -> EngineRequest:
        fields = {name: getattr(self, name) for name in self.__dataclass_fields__}
        fields.update(changes)
        return EngineRequest(**fields)


@dataclass(frozen=True)
class EngineResult:
    """A synthesized frame (H x W x 3 uint8), the revision it shows, and per-stage seconds."""

    image: np.ndarray
    revision: int
    timings: Mapping[str, float] = field(default_factory=dict)
    preview: bool = False
    region: Rect | None = None  # the rectangle that changed versus the previous result (None: all)
    backend: str = ""  # what rendered a full frame, e.g. "openvino f32 + lookup" or "eager bf16 + lookup"
