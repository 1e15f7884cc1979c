"""What the label view draws over the label colours: instance boundaries, the hovered and the selected
object, and translucent masks (the move ghost, the insert preview).

The boundary layer is NVIDIA's 4-neighbour edge map (:func:`p2phd.editor.boundaries.instance_edges`)
kept as an RGBA image at document resolution and updated on the dirty rectangle of each edit only.
Zoomed out below 50 %, the 2-pixel edges are thickened so that every screen pixel still shows them.
"""

from __future__ import annotations

import math

import numpy as np
from p2phd.editor.boundaries import instance_edges, object_outline, thicken
from p2phd.editor.geometry import Rect
from PySide6.QtGui import QImage

EDGE_RGBA = (16, 16, 16, 220)
HOVER_FILL = (255, 255, 255, 70)
HOVER_LINE = (255, 255, 255, 230)
SELECTED_LINE = (255, 200, 0, 255)


def display_radius(scale: float, width: float = 2.0) -> int:
    """Pixels to grow a ``width``-pixel line by so that it is at least one screen pixel wide."""
    if scale <= 0:
        return 0
    return max(0, math.ceil((1.0 / scale - width) / 2))


def _premultiplied(rgba: tuple[int, int, int, int]) -> np.ndarray:
    r, g, b, a = rgba
    return np.array([r * a // 255, g * a // 255, b * a // 255, a], np.uint8)


def rgba_image(buffer: np.ndarray) -> QImage:
    """An H x W x 4 premultiplied RGBA array -> a QImage that owns a copy."""
    h, w = buffer.shape[:2]
    buffer = np.ascontiguousarray(buffer)
    return QImage(buffer.data, w, h, 4 * w, QImage.Format.Format_RGBA8888_Premultiplied).copy()


def mask_image(mask: np.ndarray, rgb, alpha: int = 150, outline: tuple | None = HOVER_LINE) -> QImage:
    """A translucent image of a bool mask in one colour, with its own boundary in ``outline``."""
    mask = np.asarray(mask, bool)
    out = np.zeros((*mask.shape, 4), np.uint8)
    out[mask] = _premultiplied((*(int(c) for c in rgb), alpha))
    if outline is not None:
        padded = np.pad(mask, 1)
        inner = padded[1:-1, 1:-1] & padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2] & padded[1:-1, 2:]
        out[mask & ~inner] = _premultiplied(outline)
    return rgba_image(out)


class EdgeLayer:
    """Instance boundaries as a transparent image over the label view, updated one rectangle at a time.

    The 1-pixel edges are kept as a bool map beside the image, so a new display thickness (zooming)
    only thickens them again instead of recomputing them from the instance map (13.8 -> 4.2 ms for a
    2048x1024 document, measured under load)."""

    def __init__(self, inst: np.ndarray, radius: int = 0) -> None:
        h, w = inst.shape
        self.radius = int(radius)
        self._edges = np.zeros((h, w), bool)  # NVIDIA's edges, not thickened
        self._rgba = np.zeros((h, w, 4), np.uint8)
        self.image = QImage(self._rgba.data, w, h, 4 * w, QImage.Format.Format_RGBA8888_Premultiplied)
        self._pixels = self._rgba.view(np.uint32)[..., 0]  # one 32-bit word per pixel, same memory
        self._color32 = _premultiplied(EDGE_RGBA).view(np.uint32)[0]
        self.update(inst, Rect(0, 0, w, h))

    @property
    def size(self) -> tuple[int, int]:
        return self._rgba.shape[1], self._rgba.shape[0]

    def update(self, inst: np.ndarray, rect: Rect) -> Rect:
        """Recompute the edges a change inside ``rect`` can affect; returns the rectangle rewritten."""
        w, h = self.size
        changed = rect.pad(1).clip(w, h)  # a pixel's edge depends on its 4 neighbours
        if changed.empty:
            return changed
        self._edges[changed.slices] = instance_edges(inst, changed)
        return self._redraw(changed.pad(self.radius).clip(w, h))

    def _redraw(self, region: Rect) -> Rect:
        """Rewrite the image inside ``region`` from the edge map, thickened by the display radius."""
        w, h = self.size
        grown = region.pad(self.radius).clip(w, h)
        edges = thicken(self._edges[grown.slices], self.radius)[region.relative_to(grown).slices]
        np.multiply(edges, self._color32, out=self._pixels[region.slices], casting="unsafe")  # 4 bytes at once
        return region

    def set_radius(self, radius: int) -> bool:
        """Change the display thickness (redraws everything from the kept edges); False when unchanged."""
        if int(radius) == self.radius:
            return False
        self.radius = int(radius)
        w, h = self.size
        self._redraw(Rect(0, 0, w, h))
        return True

    def edges(self) -> np.ndarray:
        """H x W bool: where a boundary is drawn (for tests)."""
        return self._rgba[..., 3] > 0


class ObjectHighlight:
    """The image of one object's highlight (its boundary, optionally a translucent fill), cached."""

    def __init__(self) -> None:
        self._key = None
        self._value: tuple[Rect, QImage] | None = None

    def invalidate(self) -> None:
        self._key = None
        self._value = None

    def get(self, document, object_id: int, radius: int, line, fill=None) -> tuple[Rect, QImage] | None:
        key = (id(document), int(object_id), int(radius))
        if key != self._key:
            self._key, self._value = key, self._build(document, int(object_id), int(radius), line, fill)
        return self._value

    @staticmethod
    def _build(document, object_id: int, radius: int, line, fill) -> tuple[Rect, QImage] | None:
        box = document.object_bbox(object_id)
        if box.empty:
            return None
        inst = document.instance
        outer = box.pad(radius).clip(document.width, document.height)
        outline = thicken(object_outline(inst, object_id, outer), radius)
        out = np.zeros((*outline.shape, 4), np.uint8)
        if fill is not None:
            out[inst[outer.slices] == object_id] = _premultiplied(fill)
        out[outline] = _premultiplied(line)
        return outer, rgba_image(out)
