"""Reading label maps, instance maps and photos: one rule for the editor, the CLI and training.

The rule is "what the image shows":

- a **grey** image (8-bit ``L``, 16-bit ``I;16``, or a palette image whose colours are all grey)
  holds ids: its grey levels are the label ids (0..255) or the instance ids (0..65535);
- a **colour** image (RGB, RGBA, or a palette image with colours) is a label map in the official
  Cityscapes colours; any other colour is refused and listed. An instance map is never a colour image.

Every file is opened lazily, its declared size checked (:mod:`.limits`) and its mode checked before
the pixels are decoded. Failures are one-line :class:`InputMapError` messages naming the file.
"""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path

import numpy as np
from p2phd.models.errors import InputMapError
from p2phd.models.labels import ids_from_colors
from p2phd.models.mapfiles.limits import MAX_INSTANCE_VALUE, MAX_SIDE, check_size
from PIL import Image, UnidentifiedImageError

PathLike = str | os.PathLike
Source = PathLike | bytes  # a file, or the bytes of one (a member of a project zip)

GREY_MODES = ("L", "I;16", "I;16L", "I;16B", "I;16N", "I")
COLOUR_MODES = ("RGB", "RGBA")
PHOTO_MODES = ("RGB", "RGBA", "L", "LA", "P", "PA", "CMYK", "YCbCr")


def _name(source: Source) -> str:
    return "<bytes>" if isinstance(source, bytes) else str(source)


def open_image(source: Source, what: str, modes: tuple[str, ...]) -> Image.Image:
    """The decoded image, after its header passed the size limit and its mode is one of ``modes``."""
    name = _name(source)
    if not isinstance(source, bytes) and not Path(source).is_file():
        raise InputMapError(f"{what} {name} does not exist")
    try:
        fh = io.BytesIO(source) if isinstance(source, bytes) else open(source, "rb")  # noqa: SIM115
    except OSError as exc:
        raise InputMapError(f"cannot read {what} {name}: {exc.strerror or exc}") from None
    with fh:
        try:
            with warnings.catch_warnings():  # our limit is stricter than Pillow's warning threshold
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                image = Image.open(fh)  # reads the header only
        except Image.DecompressionBombError:
            raise InputMapError(f"{what} {name} declares a size beyond {MAX_SIDE}x{MAX_SIDE} pixels") from None
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError):
            raise InputMapError(f"cannot read {what} {name}: not a readable image") from None
        check_size(*image.size, what=f"{what} {name}")
        if image.mode not in modes:
            raise InputMapError(f"{what} {name} has unsupported image mode {image.mode!r}{_wanted(what)}")
        try:
            image.load()  # decode now, so a truncated file fails here and not later
        except (OSError, ValueError, SyntaxError, EOFError) as exc:  # Pillow reports damage with all of these
            raise InputMapError(f"cannot read {what} {name}: corrupt or truncated ({exc})") from None
    return image


def _wanted(what: str) -> str:
    if what == "label map":
        return " (want a grey 8-bit or 16-bit PNG of ids, or a colour PNG in the Cityscapes palette)"
    if what == "instance map":
        return " (want a single-channel grey PNG of ids, 16-bit as Cityscapes' *_instanceIds.png)"
    return ""


def _grey_or_colour(image: Image.Image) -> tuple[np.ndarray, bool]:
    """(H x W ids, True) for a grey image, (H x W x 3 RGB, False) for a colour image."""
    if image.mode in GREY_MODES:
        return np.asarray(image), True
    if image.mode in COLOUR_MODES:
        return np.asarray(image.convert("RGB")), False
    # "P": read by its colours (what every viewer shows), never by its raw indices
    indices = np.asarray(image)
    palette = np.zeros((256, 3), np.uint8)
    colours = np.asarray(image.getpalette() or [], np.uint8).reshape(-1, 3)[:256]
    palette[: len(colours)] = colours
    used = palette[np.flatnonzero(np.bincount(indices.ravel(), minlength=256))]
    if (used[:, 0] == used[:, 1]).all() and (used[:, 1] == used[:, 2]).all():
        return palette[:, 0][indices], True
    return palette[indices], False


def read_label(source: Source) -> np.ndarray:
    """H x W uint8 class ids (see the module's rule)."""
    name = _name(source)
    pixels, grey = _grey_or_colour(open_image(source, "label map", (*GREY_MODES, *COLOUR_MODES, "P")))
    if not grey:
        try:
            return ids_from_colors(pixels)
        except ValueError as exc:
            raise InputMapError(f"colour label map {name}: {exc}") from None
    if pixels.size and (int(pixels.min()) < 0 or int(pixels.max()) > 255):
        raise InputMapError(
            f"label map {name} holds values up to {int(pixels.max())}: ids are 0..255 (is it an instance map?)"
        )
    return pixels.astype(np.uint8)


def read_instance(source: Source) -> np.ndarray:
    """H x W int32 instance ids (0..65535) from a grey image (see the module's rule)."""
    name = _name(source)
    pixels, grey = _grey_or_colour(open_image(source, "instance map", (*GREY_MODES, "P")))
    if not grey:
        raise InputMapError(f"instance map {name} is a colour palette image; it must be single-channel grey ids")
    if pixels.size and (int(pixels.min()) < 0 or int(pixels.max()) > MAX_INSTANCE_VALUE):
        raise InputMapError(f"instance map {name} holds values outside 0..{MAX_INSTANCE_VALUE}")
    return pixels.astype(np.int32)


def read_photo(source: Source) -> np.ndarray:
    """H x W x 3 uint8 RGB (writable, so torch can wrap it)."""
    return np.array(open_image(source, "photo", PHOTO_MODES).convert("RGB"))
