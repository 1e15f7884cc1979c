"""How large a map or photo may be: checked from a file's header before any pixel is decoded.

A small PNG can declare an enormous image (a 174 KB palette PNG of 16384 x 10900 decodes to 7 GB).
Every image this app reads (editor, CLI, training data, appearance photos, project files) goes
through :func:`check_size`, so such a file is refused before it costs memory or time.
"""

from __future__ import annotations

from p2phd.models.errors import InputMapError

MAX_SIDE = 8192  # pixels, each side: 4x a Cityscapes frame's width
MAX_INSTANCE_VALUE = 65535  # *_instanceIds.png is 16-bit


def check_size(width: int, height: int, what: str = "image") -> None:
    """Raise :class:`InputMapError` unless 1 <= width, height <= :data:`MAX_SIDE`."""
    if not (1 <= width <= MAX_SIDE and 1 <= height <= MAX_SIDE):
        raise InputMapError(f"{what} is {width}x{height}: sides must be 1..{MAX_SIDE} pixels")
