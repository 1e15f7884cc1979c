"""Rasterising brush dabs, stroke segments and polygons into small local masks (OpenCV)."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
from p2phd.editor.errors import DocumentError
from p2phd.editor.geometry import Rect

Point = tuple[float, float]
#: Largest brush radius: covers the largest document from its centre, and keeps OpenCV's thickness in range.
MAX_RADIUS = 8192
#: Points may lie far outside the image (a drag leaving the window) but must be exact in float64.
MAX_COORD = 2**52


def as_points(points: Sequence[Point] | np.ndarray, minimum: int = 1) -> np.ndarray:
    """N x 2 int64 ``(x, y)`` points, rounded; raises for the wrong shape or non-finite values."""
    try:
        arr = np.asarray(points, dtype=np.float64)
    except (TypeError, ValueError, OverflowError):
        raise DocumentError("points must be (x, y) pairs of numbers") from None
    if arr.ndim != 2 or arr.shape[1] != 2 or len(arr) < minimum:
        raise DocumentError(f"expected at least {minimum} (x, y) point(s), got an array of shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise DocumentError("points must be finite numbers")
    if np.abs(arr).max() > MAX_COORD:
        raise DocumentError(f"point coordinates must be within +-{MAX_COORD}, got {np.abs(arr).max():g}")
    return np.rint(arr).astype(np.int64)


def check_radius(radius: int) -> int:
    try:
        value = int(radius)
    except (TypeError, ValueError, OverflowError):
        raise DocumentError(f"brush radius must be an int in 0..{MAX_RADIUS}, got {radius!r}") from None
    if not 0 <= value <= MAX_RADIUS or value != radius:
        raise DocumentError(f"brush radius must be an int in 0..{MAX_RADIUS}, got {radius!r}")
    return value


def clip_segment(p0: np.ndarray, p1: np.ndarray, box: Rect) -> tuple[np.ndarray, np.ndarray] | None:
    """The part of segment p0-p1 inside ``box`` (Liang-Barsky, float64), or ``None`` when it misses."""
    a, d = np.asarray(p0, np.float64), np.asarray(p1, np.float64) - np.asarray(p0, np.float64)
    t0, t1 = 0.0, 1.0
    for k, (lo, hi) in enumerate(((box.x0, box.x1), (box.y0, box.y1))):
        for p, q in ((-d[k], a[k] - lo), (d[k], hi - a[k])):
            if p == 0:
                if q < 0:
                    return None
                continue
            t = q / p
            if p < 0:
                t0 = max(t0, t)
            else:
                t1 = min(t1, t)
    if t0 > t1:
        return None
    return a + t0 * d, a + t1 * d


def clip_polygon(points: np.ndarray, box: Rect) -> np.ndarray:
    """The polygon clipped to ``box`` (Sutherland-Hodgman, float64); may have fewer than 3 points."""
    poly = [tuple(p) for p in np.asarray(points, np.float64)]
    edges = ((0, box.x0, True), (0, box.x1, False), (1, box.y0, True), (1, box.y1, False))
    for axis, bound, lower in edges:
        if not poly:
            break
        inside = (lambda p: p[axis] >= bound) if lower else (lambda p: p[axis] <= bound)  # noqa: B023
        out = []
        for i, cur in enumerate(poly):
            prev = poly[i - 1]
            if inside(cur) != inside(prev):
                t = (bound - prev[axis]) / (cur[axis] - prev[axis])
                out.append(tuple(prev[j] + t * (cur[j] - prev[j]) for j in range(2)))
            if inside(cur):
                out.append(cur)
        poly = out
    return np.array(poly, np.float64).reshape(-1, 2)


def segment_mask(p0: np.ndarray, p1: np.ndarray, radius: int, width: int, height: int) -> tuple[Rect, np.ndarray]:
    """Pixels within ``radius`` of the segment p0-p1, clipped to the image: (rect, bool mask of rect)."""
    rect = Rect.around([tuple(p0), tuple(p1)], radius).clip(width, height)
    if rect.empty:
        return rect, np.zeros((0, 0), bool)
    mask = np.zeros((rect.height, rect.width), np.uint8)
    origin = np.array([rect.x0, rect.y0], np.int64)
    # Far-away points are clipped first: OpenCV's drawing works in 16.16 fixed point (int32), and a
    # part of the segment more than ``radius`` outside the rectangle cannot paint inside it.
    clipped = clip_segment(p0 - origin, p1 - origin, Rect(0, 0, rect.width, rect.height).pad(radius + 2))
    if clipped is None:
        return rect, mask.astype(bool)
    a, b = (tuple(int(v) for v in np.rint(q)) for q in clipped)
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
    local = clip_polygon(points - np.array([rect.x0, rect.y0], np.int64), Rect(0, 0, rect.width, rect.height).pad(1))
    if len(local) == 0:
        return rect, mask.astype(bool)
    local = np.rint(local).astype(np.int32).reshape(-1, 1, 2)
    cv2.fillPoly(mask, [local], 1)
    cv2.polylines(mask, [local], True, 1)
    return rect, mask.astype(bool)
