"""Render a document larger than the model's native resolution at that resolution.

The size itself is the one sizing rule of :mod:`p2phd.models.mapfiles.sizing` (the CLI and training
use it too); this module applies it to an engine request: the maps are sampled down (nearest
neighbour, PIL's pixel centres, as NVIDIA's loader resizes label maps), the dirty rectangle scaled,
and the editor shows the result scaled back up.
"""

from __future__ import annotations

import math

import numpy as np
from p2phd.models.config import ModelConfig
from p2phd.models.engine.request import EngineRequest, Rect
from p2phd.models.mapfiles.resize import pixel_centres
from p2phd.models.mapfiles.sizing import work_size


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
    """``request`` sampled to :func:`~p2phd.models.mapfiles.sizing.work_size` (itself when it already fits)."""
    src = request.size
    dst = work_size(config, src)
    if dst == src:
        return request
    rows, cols = pixel_centres(src[1], dst[1]), pixel_centres(src[0], dst[0])
    return EngineRequest(
        _resample(request.label, rows, cols),
        _resample(request.instance, rows, cols),
        styles=request.styles,
        feature_map=_resample(request.feature_map, rows, cols),
        revision=request.revision,
        dirty=None if request.dirty is None else _scale_rect(request.dirty, src, dst),
        preview=request.preview,
    )
