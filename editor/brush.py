"""Rasterising brush dabs, stroke segments and polygons into small local masks (OpenCV)."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
from p2phd.editor.errors import DocumentError
from p2phd.editor.geometry import Rect

Point = tuple[float, float]


def as_points(points: Sequence[Point] | np.ndarray, minimum: int = 1) -> np.ndarray:
    """N x 2 int32 ``(x, y)`` points, rounded; raises for the wrong shape or non-finite values."""
    arr = np.asarray(points, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] != 2 or len(arr) < minimum:
        raise DocumentError(f"expected at least {minimum} (x, y) point(s), got an array of shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise DocumentError("points must be finite numbers")
    return np.rint(arr).astype(np.int32)


def check_radius(radius: int) -> int:
    value = int(radius)
    if value < 0 or value != radius:
        raise DocumentError(f"brush radius must be an int >= 0, got {radius!r}")
    return value


def segment_mask(p0: np.ndarray, p1: np.ndarray, radius: int, width: int, height: int) -> tuple[Rect, np.ndarray]:
    """Pixels within ``radius`` of the segment p0-p1, clipped to the image: (rect, bool mask of rect)."""
    rect = Rect.around([tuple(p0), tuple(p1)], radius).clip(width, height)
    if rect.empty:
        return rect, np.zeros((0, 0), bool)
    mask = np.zeros((rect.height, rect.width), np.uint8)
    origin = np.array([rect.x0, rect.y0], np.int32)
    a, b = (int(v) for v in p0 - origin), (int(v) for v in p1 - origin)
    a, b = tuple(a), tuple(b)
    cv2.circle(mask, a, radius, 1, thickness=-1)
    if a != b:
        cv2.circle(mask, b, radius, 1, thickness=-1)
        cv2.line(mask, a, b, 1, thickness=2 * radius + 1)
    return rect, mask.astype(bool)


def polygon_mask(points: np.ndarray, width: int, height: int) -> tuple[Rect, np.ndarray]:
    """Inside of the polygon (and its outline), clipped to the image: (rect, bool mask of rect)."""
    rect = Rect.around([tuple(p) for p in points]).clip(width, height)
    if rect.empty:
        return rect, np.zeros((0, 0), bool)
    mask = np.zeros((rect.height, rect.width), np.uint8)
    local = (points - np.array([rect.x0, rect.y0], np.int32)).reshape(-1, 1, 2)
    cv2.fillPoly(mask, [local], 1)
    cv2.polylines(mask, [local], True, 1)
    return rect, mask.astype(bool)
