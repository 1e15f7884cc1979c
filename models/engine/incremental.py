"""Stroke previews: recompute only the dirty rectangle + receptive field of the last local enhancer.

The global generator's output (the "coarse" features the last enhancer adds) and that enhancer's
instance-norm statistics are cached by the last full pass. A crop of the input, padded by the
receptive field, runs through ``model{N}_1`` / ``model{N}_2`` with the norms replaying the cached
statistics. Where the crop touches the image border its reflection padding is the full image's;
elsewhere the crop's own (wrong) padding only reaches ``radius`` pixels inwards, outside the part we
keep. With unchanged statistics the kept part therefore equals a full-frame recompute exactly.
"""

from __future__ import annotations

import math

import torch
from p2phd.models.engine.request import Rect
from torch import nn

ALIGN = 2  # the enhancer's one stride-2 conv: crops start on even pixels so its grid matches the frame's
# On GPUs crop sides are rounded up to this grid (and the crop moved back inside the frame where it would
# stick out): a stroke's crops then come from a handful of shapes, so cudnn.benchmark tunes each shape
# once instead of on almost every dab (300 dabs gave 237 shapes unrounded). More context is still exact.
# See device.crop_grid.
CROP_GRID = 64


def receptive_radius(layers: list[nn.Module]) -> int:
    """Pixels (at the input scale) an output pixel can see on each side through ``layers``, rounded up."""
    radius, scale = 0.0, 1.0
    for module in layers:
        for m in module.modules():
            if isinstance(m, nn.ConvTranspose2d):
                scale /= m.stride[0]
                radius += m.kernel_size[0] * scale  # generous: transposed convs spread both ways
            elif isinstance(m, nn.Conv2d):
                radius += (m.kernel_size[0] - 1) // 2 * m.dilation[0] * scale
                scale *= m.stride[0]
    return int(math.ceil(radius))


def expand(rect: Rect, margin: int, width: int, height: int, align: int = 1) -> Rect:
    """``rect`` grown by ``margin`` on each side, snapped outwards to ``align`` and clipped to the frame."""
    x0, y0, x1, y1 = rect
    x0, y0 = max(0, x0 - margin) // align * align, max(0, y0 - margin) // align * align
    x1 = min(width, -(-(x1 + margin) // align) * align)
    y1 = min(height, -(-(y1 + margin) // align) * align)
    return x0, y0, x1, y1


def enhance_crop(
    down: nn.Module, up: nn.Module, x_crop: torch.Tensor, coarse: torch.Tensor, crop: Rect
) -> torch.Tensor:
    """Run the last enhancer on ``x_crop`` (the input inside ``crop``, N x C x h x w, batch allowed)
    plus the matching crop of the cached half-resolution ``coarse`` features. Norms must be in replay."""
    x0, y0, x1, y1 = crop
    if x0 % ALIGN or y0 % ALIGN or x1 % ALIGN or y1 % ALIGN:
        raise ValueError(f"crop {crop} is not aligned to {ALIGN} pixels")
    c = coarse[:, :, y0 // 2 : y1 // 2, x0 // 2 : x1 // 2]
    if c.shape[0] != x_crop.shape[0]:
        c = c.expand(x_crop.shape[0], -1, -1, -1)
    return up(down(x_crop) + c)


def crop_of(tensor: torch.Tensor, rect: Rect) -> torch.Tensor:
    x0, y0, x1, y1 = rect
    return tensor[:, :, y0:y1, x0:x1]


def _on_grid(lo: int, hi: int, size: int, grid: int) -> tuple[int, int]:
    length = min(size, -(-(hi - lo) // grid) * grid)
    lo = min(lo, size - length)  # even: size and length are (sizes are multiples of the model's base)
    return lo, lo + length


def plan_crop(dirty: Rect, radius: int, width: int, height: int, grid: int = 1) -> tuple[Rect, Rect]:
    """(output rectangle the edit can change, input crop that computes it exactly).

    The crop's sides are multiples of ``grid`` (or the frame's side) and it starts on even pixels."""
    changed = expand(dirty, radius, width, height)
    x0, y0, x1, y1 = expand(changed, radius, width, height, ALIGN)
    if grid > 1:
        x0, x1 = _on_grid(x0, x1, width, grid)
        y0, y1 = _on_grid(y0, y1, height, grid)
    return changed, (x0, y0, x1, y1)
