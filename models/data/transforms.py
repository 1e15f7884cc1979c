"""NVIDIA's preprocessing (``data/base_dataset.py``) on PIL images, without torchvision.

Label and instance maps are resampled nearest-neighbour, photos bicubic; the same random crop
position and flip are applied to all maps of one sample.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np
from PIL import Image

RESIZE_OR_CROP = ("resize_and_crop", "scale_width", "scale_width_and_crop", "crop", "none")


@dataclass(frozen=True)
class Preprocess:
    resize_or_crop: str = "scale_width"
    loadSize: int = 1024  # noqa: N815 (NVIDIA option name)
    fineSize: int = 512  # noqa: N815 (NVIDIA option name)
    flip: bool = True
    size_multiple: int = 16  # NVIDIA's ``__make_power_2`` base, used for ``resize_or_crop none``

    def __post_init__(self):
        if self.resize_or_crop not in RESIZE_OR_CROP:
            raise ValueError(
                f"--resize_or_crop must be one of {', '.join(RESIZE_OR_CROP)}, not {self.resize_or_crop!r}"
            )
        if self.loadSize <= 0 or self.fineSize <= 0:
            raise ValueError("--loadSize and --fineSize must be positive")

    def random_params(self, size: tuple[int, int], rng: random.Random) -> dict:
        """NVIDIA's ``get_params``: crop position and flip, drawn once per sample."""
        w, h = size
        new_w, new_h = w, h
        if self.resize_or_crop == "resize_and_crop":
            new_w = new_h = self.loadSize
        elif self.resize_or_crop == "scale_width_and_crop":
            new_w, new_h = self.loadSize, self.loadSize * h // w
        x = rng.randint(0, max(0, new_w - self.fineSize))
        y = rng.randint(0, max(0, new_h - self.fineSize))
        return {"crop_pos": (x, y), "flip": rng.random() > 0.5}

    def __call__(self, img: Image.Image, params: dict, method: int) -> Image.Image:
        mode = self.resize_or_crop
        if "resize" in mode:
            img = img.resize((self.loadSize, self.loadSize), method)
        elif "scale_width" in mode:
            img = scale_width(img, self.loadSize, method)
        if "crop" in mode:
            img = crop(img, params["crop_pos"], self.fineSize)
        if mode == "none":
            img = make_multiple(img, self.size_multiple, method)
        if self.flip and params["flip"]:
            img = img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        return img


def scale_width(img: Image.Image, target_width: int, method: int) -> Image.Image:
    ow, oh = img.size
    if ow == target_width:
        return img
    return img.resize((target_width, int(target_width * oh / ow)), method)


def crop(img: Image.Image, pos: tuple[int, int], size: int) -> Image.Image:
    ow, oh = img.size
    x1, y1 = pos
    if ow > size or oh > size:
        return img.crop((x1, y1, x1 + size, y1 + size))
    return img


def make_multiple(img: Image.Image, base: int, method: int) -> Image.Image:
    ow, oh = img.size
    w, h = int(round(ow / base) * base), int(round(oh / base) * base)
    return img if (w, h) == (ow, oh) else img.resize((w, h), method)


def image_to_tensor_array(img: Image.Image) -> np.ndarray:
    """RGB photo -> 3 x H x W float32 in [-1, 1] (ToTensor + Normalize(0.5, 0.5))."""
    arr = np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0
    return np.ascontiguousarray(((arr - 0.5) / 0.5).transpose(2, 0, 1))
