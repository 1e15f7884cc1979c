"""Network output to pixels: a C x H x W image in [-1, 1] to H x W x 3 uint8, every value rounded.

NVIDIA's ``util.tensor2im`` truncates (``astype(uint8)``), which makes images on average half a grey
level darker; rounding differs from it by at most one level. Torch tensors are converted on their
own device (one byte per value crosses to the CPU) without this module importing torch.
"""

from __future__ import annotations

import numpy as np


def to_uint8_image(image) -> np.ndarray:
    """A 3 x H x W image in [-1, 1] (numpy array or torch tensor) -> H x W x 3 uint8 (contiguous)."""
    if hasattr(image, "detach"):  # a torch tensor
        levels = ((image.detach().float().clamp(-1, 1) + 1) * 127.5).round().byte()
        return np.ascontiguousarray(levels.permute(1, 2, 0).cpu().numpy())
    arr = np.asarray(image, dtype=np.float32)
    levels = np.rint((np.clip(arr, -1, 1) + 1) * 127.5).astype(np.uint8)
    return np.ascontiguousarray(levels.transpose(1, 2, 0))
