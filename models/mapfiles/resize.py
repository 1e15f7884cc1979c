"""Nearest-neighbour resizing of maps with PIL's pixel centres (as NVIDIA's loader resizes label maps)."""

from __future__ import annotations

import numpy as np
from p2phd.models.errors import InputMapError


def pixel_centres(src: int, dst: int) -> np.ndarray:
    """For each of ``dst`` target pixels, the index of the source pixel under its centre."""
    return np.minimum(((np.arange(dst) + 0.5) * (src / dst)).astype(np.int64), src - 1)


def resize_nearest(arr: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """An H x W (x C) array resized to ``size`` = (w, h), identical to PIL's ``resize(NEAREST)``."""
    w, h = size
    in_h, in_w = arr.shape[:2]
    if (in_w, in_h) == (w, h):
        return arr
    if w <= 0 or h <= 0:
        raise InputMapError(f"cannot resize to {w}x{h}")
    return arr[pixel_centres(in_h, h)[:, None], pixel_centres(in_w, w)[None, :]]
