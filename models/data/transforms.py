"""NVIDIA's preprocessing (``data/base_dataset.py``) on PIL images, without torchvision.

Label and instance maps are resampled nearest-neighbour, photos bicubic; the same random crop
position and flip are applied to all maps of one sample.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np
from p2phd.models.mapfiles.sizing import round_to_multiple
from p2phd.models.vocabulary import RESIZE_OR_CROP
from PIL import Image


@dataclass(frozen=True)
class Preprocess:
    resize_or_crop: str = "scale_width"
    loadSize: int = 1024  # noqa: N815 (NVIDIA option name)
    fineSize: int = 512  # noqa: N815 (NVIDIA option name)
    flip: bool = True
    size_multiple: int = 16  # NVIDIA's ``__make_power_2`` base, used for ``resize_or_crop none``
    # Augmentation for small data sets (not in NVIDIA's code): after the resize step the sample is
    # scaled by a factor drawn from ``scale_jitter`` before the crop, so a fully convolutional G sees
    # every frame at many scales and positions; photos get brightness/contrast/saturation jitter of
    # up to +-``color_jitter``. The defaults (1, 1) and 0 reproduce NVIDIA's preprocessing.
    scale_jitter: tuple[float, float] = (1.0, 1.0)
    color_jitter: float = 0.0

    def __post_init__(self):
        if self.resize_or_crop not in RESIZE_OR_CROP:
            raise ValueError(
                f"--resize_or_crop must be one of {', '.join(RESIZE_OR_CROP)}, not {self.resize_or_crop!r}"
            )
        if self.loadSize <= 0 or self.fineSize <= 0:
            raise ValueError("--loadSize and --fineSize must be positive")
        lo, hi = self.scale_jitter
        if not 0 < lo <= hi:
            raise ValueError(f"--scale_jitter needs 0 < MIN <= MAX, got {lo} {hi}")
        if not 0 <= self.color_jitter < 1:
            raise ValueError(f"--color_jitter must be in [0, 1), got {self.color_jitter}")

    @property
    def jitters_scale(self) -> bool:
        return self.scale_jitter != (1.0, 1.0)

    def native_size(self, size: tuple[int, int]) -> tuple[int, int]:
        """(width, height) of a whole frame of ``size`` after the resize step, without jitter or crop:
        the resolution the trained model is meant to render (crops only show it a part at a time)."""
        w, h = size
        if "resize" in self.resize_or_crop:
            return self.loadSize, self.loadSize
        if "scale_width" in self.resize_or_crop:
            return self.loadSize, int(self.loadSize * h / w)
        if self.resize_or_crop == "none":
            base = self.size_multiple
            return int(round(w / base) * base), int(round(h / base) * base)
        return w, h

    def random_params(self, size: tuple[int, int], rng: random.Random) -> dict:
        """NVIDIA's ``get_params`` (crop position and flip), plus the jitter draws; once per sample."""
        w, h = size
        new_w, new_h = w, h
        if "resize" in self.resize_or_crop:
            new_w = new_h = self.loadSize
        elif "scale_width" in self.resize_or_crop:
            new_w, new_h = self.loadSize, int(self.loadSize * h / w)
        scale = 1.0
        if self.jitters_scale:
            scale = rng.uniform(*self.scale_jitter)
            if "crop" in self.resize_or_crop:  # never scale below the crop: it would pad with void
                scale = max(scale, self.fineSize / max(1, min(new_w, new_h)))
            new_w, new_h = max(1, round(new_w * scale)), max(1, round(new_h * scale))
        x = rng.randint(0, max(0, new_w - self.fineSize))
        y = rng.randint(0, max(0, new_h - self.fineSize))
        params = {"crop_pos": (x, y), "flip": rng.random() > 0.5, "scale": scale}
        if self.color_jitter:
            j = self.color_jitter
            params["color"] = tuple(rng.uniform(1 - j, 1 + j) for _ in range(3))
        return params

    def __call__(self, img: Image.Image, params: dict, method: int) -> Image.Image:
        mode = self.resize_or_crop
        if "resize" in mode:
            img = img.resize((self.loadSize, self.loadSize), method)
        elif "scale_width" in mode:
            img = scale_width(img, self.loadSize, method)
        if params.get("scale", 1.0) != 1.0:
            w, h = img.size
            img = img.resize((max(1, round(w * params["scale"])), max(1, round(h * params["scale"]))), method)
        if "crop" in mode:
            img = crop(img, params["crop_pos"], self.fineSize)
        if mode == "none":
            img = make_multiple(img, self.size_multiple, method)
        if self.flip and params["flip"]:
            img = img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        return img


def jitter_colors(img: Image.Image, params: dict) -> Image.Image:
    """Brightness, contrast and saturation factors drawn by :meth:`Preprocess.random_params` (photos only)."""
    if "color" not in params:
        return img
    from PIL import ImageEnhance

    brightness, contrast, saturation = params["color"]
    img = ImageEnhance.Brightness(img).enhance(brightness)
    img = ImageEnhance.Contrast(img).enhance(contrast)
    return ImageEnhance.Color(img).enhance(saturation)


def scale_width(img: Image.Image, target_width: int, method: int) -> Image.Image:
    ow, oh = img.size
    if ow == target_width:
        return img
    return img.resize((target_width, int(target_width * oh / ow)), method)


def crop(img: Image.Image, pos: tuple[int, int], size: int) -> Image.Image:
    ow, oh = img.size
    x1, y1 = pos
    if ow > size or oh > size:
        return img.crop((x1, y1, x1 + min(size, ow), y1 + min(size, oh)))
    return img


def make_multiple(img: Image.Image, base: int, method: int) -> Image.Image:
    ow, oh = img.size
    w, h = round_to_multiple(ow, base), round_to_multiple(oh, base)  # the sizing rule's rounding
    return img if (w, h) == (ow, oh) else img.resize((w, h), method)


def image_to_tensor_array(img: Image.Image) -> np.ndarray:
    """RGB photo -> 3 x H x W float32 in [-1, 1] (ToTensor + Normalize(0.5, 0.5))."""
    arr = np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0
    return np.ascontiguousarray(((arr - 0.5) / 0.5).transpose(2, 0, 1))
