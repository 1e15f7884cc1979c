"""Instance boundaries for the label view: NVIDIA's 4-neighbour edge rule in numpy, on a sub-rectangle.

:func:`instance_edges` marks a pixel when any of its 4 neighbours has another object id, exactly as
``p2phd.models.inputs.network_input.get_edges`` builds the network's edge channel (that one is torch;
the document core never imports torch). Views recompute only the dirty rectangle of an edit: the
edges of a rectangle depend on one pixel of margin around it, which the function reads itself.
"""

from __future__ import annotations

import cv2
import numpy as np
from p2phd.editor.geometry import Rect


def instance_edges(inst: np.ndarray, rect: Rect | None = None) -> np.ndarray:
    """Bool edges of ``inst`` inside ``rect`` (default: the whole map), shaped like ``inst[rect.slices]``."""
    h, w = inst.shape
    rect = Rect(0, 0, w, h) if rect is None else rect.clip(w, h)
    if rect.empty:
        return np.zeros((max(0, rect.height), max(0, rect.width)), bool)
    outer = rect.pad(1).clip(w, h)
    block = inst[outer.slices]
    edge = np.zeros(block.shape, bool)
    dx = block[:, 1:] != block[:, :-1]
    dy = block[1:, :] != block[:-1, :]
    edge[:, 1:] |= dx
    edge[:, :-1] |= dx
    edge[1:, :] |= dy
    edge[:-1, :] |= dy
    return edge[rect.relative_to(outer).slices]


def thicken(mask: np.ndarray, radius: int) -> np.ndarray:
    """Grow a bool mask by ``radius`` pixels (square neighbourhood): lines that stay visible when zoomed out."""
    radius = max(0, int(radius))
    if radius == 0 or not mask.size:
        return mask.copy()
    kernel = np.ones((2 * radius + 1, 2 * radius + 1), np.uint8)
    return cv2.dilate(mask.view(np.uint8), kernel).astype(bool)


def object_outline(inst: np.ndarray, object_id: int, box: Rect) -> np.ndarray:
    """Bool mask (the shape of ``box``) of the object's own boundary pixels: inside it, next to another id."""
    inside = inst[box.slices] == int(object_id)
    return inside & instance_edges(inst, box)
