"""Network output to pixels: a C x H x W image in [-1, 1] to H x W x 3 uint8, as NVIDIA's
``util.tensor2im`` does it: ``(x + 1) / 2 * 255`` in float32, clipped, truncated (``astype(uint8)``).

Rounding would be half a grey level brighter on average, but it would break the promise that
``--precision fp32`` reproduces NVIDIA's output exactly (0 grey levels), so we keep their rule. A tensor
on a GPU is converted there (one byte per value crosses to the CPU); this module never imports torch.
"""

from __future__ import annotations

import numpy as np


def to_uint8_image(image) -> np.ndarray:
    """A 3 x H x W image in [-1, 1] (numpy array or torch tensor) -> H x W x 3 uint8 (maybe strided)."""
    if hasattr(image, "detach"):  # a torch tensor
        image = image.detach()
        if image.device.type != "cpu":
            levels = ((image.float() + 1) / 2.0 * 255.0).clamp(0, 255).byte()  # byte() truncates
            return levels.permute(1, 2, 0).cpu().numpy()
        image = image.float().numpy()
    arr = np.asarray(image, dtype=np.float32).transpose(1, 2, 0)
    levels = arr + np.float32(1)  # in place from here, NVIDIA's order of operations (bit-identical)
    levels /= np.float32(2.0)
    levels *= np.float32(255.0)
    np.clip(levels, 0, 255, out=levels)
    return levels.astype(np.uint8)
