"""Rectangles in pixel coordinates: dirty regions, bounding boxes and array slices."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Rect:
    """Half-open pixel rectangle ``[x0, x1) x [y0, y1)``; ``x`` is the column, ``y`` the row."""

    x0: int
    y0: int
    x1: int
    y1: int

    @property
    def width(self) -> int:
        return max(0, self.x1 - self.x0)

    @property
    def height(self) -> int:
        return max(0, self.y1 - self.y0)

    @property
    def empty(self) -> bool:
        return self.width == 0 or self.height == 0

    @property
    def area(self) -> int:
        return self.width * self.height

    @property
    def slices(self) -> tuple[slice, slice]:
        """``array[rect.slices]`` is the crop of a row-major H x W array."""
        return slice(self.y0, self.y1), slice(self.x0, self.x1)

    def union(self, other: Rect | None) -> Rect:
        if other is None or other.empty:
            return self
        if self.empty:
            return other
        return Rect(min(self.x0, other.x0), min(self.y0, other.y0), max(self.x1, other.x1), max(self.y1, other.y1))

    def intersect(self, other: Rect) -> Rect:
        r = Rect(max(self.x0, other.x0), max(self.y0, other.y0), min(self.x1, other.x1), min(self.y1, other.y1))
        return r if not r.empty else EMPTY

    def clip(self, width: int, height: int) -> Rect:
        return self.intersect(Rect(0, 0, width, height))

    def pad(self, n: int) -> Rect:
        return Rect(self.x0 - n, self.y0 - n, self.x1 + n, self.y1 + n)

    def shift(self, dx: int, dy: int) -> Rect:
        return Rect(self.x0 + dx, self.y0 + dy, self.x1 + dx, self.y1 + dy)

    def relative_to(self, outer: Rect) -> Rect:
        """This rectangle in the coordinates of ``outer``'s crop."""
        return self.shift(-outer.x0, -outer.y0)

    @classmethod
    def around(cls, points: Iterable[tuple[float, float]], radius: int = 0) -> Rect:
        pts = np.asarray(list(points), dtype=np.float64).reshape(-1, 2)
        if len(pts) == 0:
            return EMPTY
        lo = np.floor(pts.min(axis=0)).astype(int) - radius
        hi = np.ceil(pts.max(axis=0)).astype(int) + radius + 1
        return cls(int(lo[0]), int(lo[1]), int(hi[0]), int(hi[1]))

    @classmethod
    def from_mask(cls, mask: np.ndarray, x0: int = 0, y0: int = 0) -> Rect:
        """Tight bounding box of the true pixels of ``mask`` (a crop whose origin is ``x0, y0``)."""
        rows = np.flatnonzero(mask.any(axis=1))
        if len(rows) == 0:
            return EMPTY
        cols = np.flatnonzero(mask.any(axis=0))
        return cls(x0 + int(cols[0]), y0 + int(rows[0]), x0 + int(cols[-1]) + 1, y0 + int(rows[-1]) + 1)


EMPTY = Rect(0, 0, 0, 0)
