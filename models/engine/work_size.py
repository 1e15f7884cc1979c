"""Render a document larger than the model's native resolution at that resolution.

A model sees objects at the scale it was trained on: the demo model (512x256) run on a 2048x1024
document would see every car four times too large and paint texture where it learned shapes. The
editor therefore samples the maps down to the model's native size (nearest neighbour, PIL's pixel
centres, as NVIDIA's loader resizes label maps) and shows the result scaled back up.
"""

from __future__ import annotations

import math

import numpy as np
from p2phd.models.config import ModelConfig
from p2phd.models.engine.request import EngineRequest, Rect


def work_size(config: ModelConfig, size: tuple[int, int]) -> tuple[int, int]:
    """The (width, height) a ``size`` document is rendered at: native width at most, same aspect,
    rounded to the model's size multiple."""
    w, h = size
    if config.native_width and w > config.native_width:
        scale = config.native_width / w
        w, h = w * scale, h * scale
    base = config.size_multiple
    return max(base, round(w / base) * base), max(base, round(h / base) * base)


def _centres(src: int, dst: int) -> np.ndarray:
    return np.minimum(((np.arange(dst) + 0.5) * (src / dst)).astype(np.int64), src - 1)


def _resample(array: np.ndarray | None, rows: np.ndarray, cols: np.ndarray) -> np.ndarray | None:
    if array is None:
        return None
    return array[..., rows[:, None], cols[None, :]]


def _scale_rect(rect: Rect, src: tuple[int, int], dst: tuple[int, int]) -> Rect:
    sx, sy = dst[0] / src[0], dst[1] / src[1]
    x0, y0, x1, y1 = rect
    # one pixel of margin: a sampled pixel centre can sit just outside the scaled rectangle
    return (
        max(0, math.floor(x0 * sx) - 1),
        max(0, math.floor(y0 * sy) - 1),
        min(dst[0], math.ceil(x1 * sx) + 1),
        min(dst[1], math.ceil(y1 * sy) + 1),
    )


def fit_request(config: ModelConfig, request: EngineRequest) -> EngineRequest:
    """``request`` sampled down to :func:`work_size` (itself when it already fits)."""
    src = request.size
    dst = work_size(config, src)
    if dst == src:
        return request
    rows, cols = _centres(src[1], dst[1]), _centres(src[0], dst[0])
    return EngineRequest(
        _resample(request.label, rows, cols),
        _resample(request.instance, rows, cols),
        styles=request.styles,
        feature_map=_resample(request.feature_map, rows, cols),
        revision=request.revision,
        dirty=None if request.dirty is None else _scale_rect(request.dirty, src, dst),
        preview=request.preview,
    )
