"""Network output to pixels: a C x H x W image in [-1, 1] to H x W x 3 uint8, every value rounded.

NVIDIA's ``util.tensor2im`` truncates (``astype(uint8)``), which makes images on average half a grey
level darker; rounding differs from it by at most one level. A tensor on a GPU is converted there
(one byte per value crosses to the CPU); this module never imports torch.
"""

from __future__ import annotations

import numpy as np


def to_uint8_image(image) -> np.ndarray:
    """A 3 x H x W image in [-1, 1] (numpy array or torch tensor) -> H x W x 3 uint8 (maybe strided)."""
    if hasattr(image, "detach"):  # a torch tensor
        image = image.detach()
        if image.device.type != "cpu":
            levels = ((image.float().clamp(-1, 1) + 1) * 127.5).round().byte()
            return levels.permute(1, 2, 0).cpu().numpy()
        image = image.float().numpy()
    arr = np.asarray(image, dtype=np.float32).transpose(1, 2, 0)
    levels = np.empty(arr.shape, np.float32)  # in place from here: 3x faster than NVIDIA's expression
    np.clip(arr, -1, 1, out=levels)
    levels += 1
    levels *= 127.5
    np.rint(levels, out=levels)
    return levels.astype(np.uint8)
