"""Reading and writing maps: Cityscapes ``*_labelIds.png`` (8-bit), ``*_instanceIds.png`` (16-bit),
colour-palette label PNGs; every write is atomic (temp file in the same folder + ``os.replace``)."""

from __future__ import annotations

import contextlib
import io as _io
import os
import tempfile
from pathlib import Path

import cv2
import numpy as np
from p2phd.editor.errors import DocumentError
from p2phd.editor.validate import MAX_INSTANCE_VALUE
from p2phd.models.labels import colorize, ids_from_colors
from PIL import Image

PathLike = str | os.PathLike
_COLOR_MODES = ("RGB", "RGBA", "P")
_INSTANCE_MODES = ("I;16", "I;16B", "I;16L", "I", "L")


def atomic_write(path: PathLike, data: bytes) -> None:
    """Write ``data`` so that ``path`` holds either its old content or all of the new one, never a part."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def encode_png(array: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", np.ascontiguousarray(array))
    if not ok:
        raise DocumentError(f"could not encode a {array.dtype} array of shape {array.shape} as PNG")
    return buf.tobytes()


def _open_image(source: PathLike | bytes, what: str) -> Image.Image:
    name = "<bytes>" if isinstance(source, bytes) else str(source)
    try:
        img = Image.open(_io.BytesIO(source) if isinstance(source, bytes) else source)
        img.load()
    except FileNotFoundError:
        raise DocumentError(f"{what} {name} does not exist") from None
    except Exception as exc:  # Pillow raises many types for corrupt files
        raise DocumentError(f"cannot read {what} {name}: {exc}") from None
    return img


def read_label(source: PathLike | bytes) -> np.ndarray:
    """An 8-bit id PNG, or a colour PNG in the official palette (unknown colours are listed) -> uint8."""
    img = _open_image(source, "label map")
    if img.mode == "L":
        return np.array(img, dtype=np.uint8)
    if img.mode in _COLOR_MODES:
        try:
            return ids_from_colors(np.array(img.convert("RGB")))
        except ValueError as exc:
            raise DocumentError(f"colour label map: {exc}") from None
    raise DocumentError(f"a label map must be an 8-bit id PNG or an RGB palette PNG, got mode {img.mode!r}")


def read_instance(source: PathLike | bytes) -> np.ndarray:
    """A 16-bit (or 8-bit / 32-bit integer) single-channel PNG -> int32."""
    img = _open_image(source, "instance map")
    if img.mode not in _INSTANCE_MODES:
        raise DocumentError(f"an instance map must be a single-channel 16-bit PNG, got mode {img.mode!r}")
    return np.array(img).astype(np.int32)


def write_label(path: PathLike, label: np.ndarray) -> None:
    if label.dtype != np.uint8 or label.ndim != 2:
        raise DocumentError(f"a label map is uint8 H x W, got {label.dtype} {label.shape}")
    atomic_write(path, encode_png(label))


def write_instance(path: PathLike, inst: np.ndarray) -> None:
    if inst.ndim != 2 or (inst.size and (int(inst.min()) < 0 or int(inst.max()) > MAX_INSTANCE_VALUE)):
        raise DocumentError(f"instance ids must fit in 16 bits (0..{MAX_INSTANCE_VALUE})")
    atomic_write(path, encode_png(inst.astype(np.uint16)))


def write_color(path: PathLike, label: np.ndarray) -> None:
    """The label map in the official Cityscapes colours (RGB PNG)."""
    atomic_write(path, encode_png(np.ascontiguousarray(colorize(label)[..., ::-1])))  # OpenCV wants BGR
