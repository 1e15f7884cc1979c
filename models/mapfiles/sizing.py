"""The size a map is rendered at: one rule for the editor, ``p2phd synthesize`` and training.

A model sees objects at the scale it was trained on: the demo model (native 512x256) run on a
2048x1024 map would see every car four times too large. So a map is rendered at **its own size,
scaled down (aspect ratio kept) to the model's native width when it is wider, each side rounded to
a multiple of the model's size multiple** (Python's ``round``, as NVIDIA's ``__make_power_2``; at
least one multiple). A 1024x1024 map renders at 512x512 with the demo model, a 70x37 map at 72x40
with a model whose multiple is 8. Models without a native size (NVIDIA checkpoint folders) render
maps at their own size, rounded: NVIDIA's ``test.py --resize_or_crop none``.

``p2phd synthesize --size WxH`` overrides the rule (:func:`explicit_size`); training with
``--resize_or_crop none`` rounds with :func:`round_to_multiple`, and records the size it trained at
as the bundle's native size.
"""

from __future__ import annotations

from typing import Protocol

from p2phd.models.errors import InputMapError
from p2phd.models.mapfiles.limits import MAX_SIDE


class SizedModel(Protocol):  # p2phd.models.config.ModelConfig
    native_width: int | None

    @property
    def size_multiple(self) -> int: ...


def round_to_multiple(n: float, multiple: int) -> int:
    """``n`` rounded (Python ``round``) to a multiple of ``multiple``, at least ``multiple``."""
    return max(multiple, int(round(n / multiple)) * multiple)


def work_size(config: SizedModel, size: tuple[int, int]) -> tuple[int, int]:
    """The (width, height) a ``size`` = (width, height) map is rendered at (the module's rule)."""
    w, h = size
    if config.native_width and w > config.native_width:
        scale = config.native_width / w
        w, h = w * scale, h * scale
    base = config.size_multiple
    return round_to_multiple(w, base), round_to_multiple(h, base)


def explicit_size(config: SizedModel, size: tuple[int, int]) -> tuple[int, int]:
    """A size asked for explicitly (``--size WxH``), checked: positive multiples of the model's multiple."""
    w, h = size
    base = config.size_multiple
    if not (0 < w <= MAX_SIDE and 0 < h <= MAX_SIDE):
        raise InputMapError(f"size {w}x{h}: width and height must be 1..{MAX_SIDE}")
    if w % base or h % base:
        raise InputMapError(f"size {w}x{h}: this model needs width and height that are positive multiples of {base}")
    return w, h


def render_size(config: SizedModel, size: tuple[int, int], explicit: tuple[int, int] | None = None) -> tuple[int, int]:
    """``explicit`` (checked) when given, else :func:`work_size`."""
    return work_size(config, size) if explicit is None else explicit_size(config, explicit)
