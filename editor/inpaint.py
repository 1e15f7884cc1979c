"""Filling a hole from its surroundings: each hole pixel takes the label and object of the nearest
pixel outside the hole (a distance transform with pixel labels), so a removed object leaves no trace."""

from __future__ import annotations

import cv2
import numpy as np
from p2phd.editor.errors import DocumentError


def nearest_fill(label: np.ndarray, inst: np.ndarray, hole: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Label and instance values for the ``True`` pixels of ``hole`` (in ``hole``'s raster order).

    ``label``, ``inst`` and ``hole`` are crops of the same shape; pixels outside the hole are the sources.
    """
    if hole.all():
        raise DocumentError("the object covers the whole area: there are no surrounding pixels to fill from")
    # DIST_LABEL_PIXEL numbers the zero (source) pixels 1, 2, ... in raster order.
    _, nearest = cv2.distanceTransformWithLabels(
        hole.astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_5, labelType=cv2.DIST_LABEL_PIXEL
    )
    sources = np.flatnonzero(~hole.ravel())
    picked = sources[nearest[hole] - 1]
    return label.ravel()[picked], inst.ravel()[picked]
