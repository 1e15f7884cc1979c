"""Writing maps and photos: Cityscapes ``*_labelIds.png`` (8-bit), ``*_instanceIds.png`` (16-bit),
the label map in Cityscapes colours, and synthesized photos. Every write is atomic (:mod:`.atomic`);
a label map and its instance map are written as one set."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from p2phd.models.errors import InputMapError
from p2phd.models.labels import colorize
from p2phd.models.mapfiles.atomic import PathLike, atomic_write, atomic_write_many
from p2phd.models.mapfiles.limits import MAX_INSTANCE_VALUE

JPEG_SUFFIXES = (".jpg", ".jpeg")
JPEG_QUALITY = 95


def encode_png(array: np.ndarray) -> bytes:
    """PNG bytes of an H x W (grey, 8 or 16 bit) or H x W x 3 (RGB) array."""
    return _encode(array, ".png", [])


def _encode(array: np.ndarray, ext: str, params: list[int]) -> bytes:
    array = np.asarray(array)
    if array.ndim == 3 and array.shape[2] == 3:
        array = array[..., ::-1]  # OpenCV wants BGR
    ok, buf = cv2.imencode(ext, np.ascontiguousarray(array), params)
    if not ok:
        raise InputMapError(f"could not encode a {array.dtype} array of shape {array.shape} as {ext}")
    return buf.tobytes()


def label_png(label: np.ndarray) -> bytes:
    if label.dtype != np.uint8 or label.ndim != 2:
        raise InputMapError(f"a label map is uint8 H x W, got {label.dtype} {label.shape}")
    return encode_png(label)


def instance_png(inst: np.ndarray) -> bytes:
    if inst.ndim != 2 or (inst.size and (int(inst.min()) < 0 or int(inst.max()) > MAX_INSTANCE_VALUE)):
        raise InputMapError(f"instance ids must fit in 16 bits (0..{MAX_INSTANCE_VALUE})")
    return encode_png(inst.astype(np.uint16))


def write_maps(
    label_path: PathLike, label: np.ndarray, instance_path: PathLike | None = None, inst: np.ndarray | None = None
) -> None:
    """The label map (and the instance map, when given) as one atomic set: on any failure both
    files keep their previous content."""
    files = {label_path: label_png(label)}
    if instance_path is not None:
        if inst is None:
            raise ValueError("an instance path needs an instance map")
        files[instance_path] = instance_png(inst)
    atomic_write_many(files)


def write_color(path: PathLike, label: np.ndarray) -> None:
    """The label map in the official Cityscapes colours (RGB PNG)."""
    atomic_write(path, encode_png(colorize(label)))


def write_photo(path: PathLike, rgb: np.ndarray) -> Path:
    """An H x W x 3 uint8 image: JPEG (quality 95) for ``.jpg`` / ``.jpeg``, PNG otherwise."""
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected uint8 H x W x 3, got {rgb.dtype} {rgb.shape}")
    if Path(path).suffix.lower() in JPEG_SUFFIXES:
        data = _encode(rgb, ".jpg", [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    else:
        data = encode_png(rgb)
    return atomic_write(path, data)
