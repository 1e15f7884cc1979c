"""Reading label / instance / image PNGs and writing results without partial files.

Every failure (missing, corrupt, truncated, wrong kind of image) is an :class:`InputMapError`
with a one-line message naming the file.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
from p2phd.models.errors import InputMapError
from p2phd.models.labels import ids_from_colors
from PIL import Image, UnidentifiedImageError


def _open(path: str | Path, what: str) -> Image.Image:
    path = Path(path)
    if not path.is_file():
        raise InputMapError(f"{what} not found: {path}")
    try:
        image = Image.open(path)
        image.load()  # decode now, so a truncated file fails here and not later
    except UnidentifiedImageError:
        raise InputMapError(f"{what} {path} is not a readable image") from None
    except (OSError, ValueError, SyntaxError) as exc:  # PIL reports damage with all of these
        raise InputMapError(f"{what} {path} is corrupt or truncated: {exc}") from None
    return image


def read_label(path: str | Path) -> np.ndarray:
    """uint8 H x W class ids from an 8-bit id PNG ('L', or 'P' whose indices are ids) or a colour
    PNG in the official Cityscapes palette."""
    image = _open(path, "label map")
    if image.mode in ("L", "P"):
        return np.array(image, dtype=np.uint8)
    if image.mode in ("RGB", "RGBA"):
        rgb = np.array(image.convert("RGB"))
        try:
            return ids_from_colors(rgb)
        except ValueError as exc:
            raise InputMapError(f"label map {path}: {exc}") from None
    if image.mode in ("I", "I;16"):
        ids = np.array(image)
        if ids.size and (ids.min() < 0 or ids.max() > 255):
            raise InputMapError(f"label map {path} holds values outside 0..255 (is it an instance map?)")
        return ids.astype(np.uint8)
    raise InputMapError(f"label map {path} has unsupported image mode {image.mode!r} (want 8-bit ids or RGB)")


def read_instance(path: str | Path) -> np.ndarray:
    """int32 H x W instance ids from a 16-bit ('I;16'), 32-bit ('I') or 8-bit PNG."""
    image = _open(path, "instance map")
    if image.mode not in ("I;16", "I", "L", "P"):
        raise InputMapError(f"instance map {path} has unsupported image mode {image.mode!r} (want 16-bit ids)")
    return np.array(image).astype(np.int32)


def read_image(path: str | Path) -> np.ndarray:
    """uint8 H x W x 3 RGB."""
    return np.array(_open(path, "image").convert("RGB"))


def resize_nearest(arr: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Nearest-neighbour resize of an H x W (x C) array to ``size`` = (w, h), as PIL's NEAREST."""
    w, h = size
    in_h, in_w = arr.shape[:2]
    if (in_w, in_h) == (w, h):
        return arr
    if w <= 0 or h <= 0:
        raise InputMapError(f"cannot resize to {w}x{h}")
    # PIL samples the source pixel under each target pixel centre.
    rows = np.minimum(((np.arange(h) + 0.5) * (in_h / h)).astype(np.int64), in_h - 1)
    cols = np.minimum(((np.arange(w) + 0.5) * (in_w / w)).astype(np.int64), in_w - 1)
    return arr[rows[:, None], cols[None, :]]


def nvidia_test_size(width: int, height: int, base: int) -> tuple[int, int]:
    """NVIDIA's ``__make_power_2``: each side rounded (Python ``round``) to a multiple of ``base``."""
    w = int(round(width / base) * base)
    h = int(round(height / base) * base)
    if w == 0 or h == 0:
        raise InputMapError(f"a {width}x{height} map is too small for this model (sides round to multiples of {base})")
    return w, h


def write_png_atomic(path: str | Path, rgb: np.ndarray) -> Path:
    """Write ``rgb`` (uint8 H x W x 3) as PNG via a temporary sibling file and ``os.replace``."""
    path = Path(path)
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected uint8 H x W x 3, got {rgb.dtype} {rgb.shape}")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fp:
            Image.fromarray(rgb, "RGB").save(fp, format="PNG")
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; results are ordinary files
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
