"""Filling a hole (a removed or moved-away object) from its surroundings.

:func:`fill_hole` fills from the *stuff* classes around the hole only (road, sidewalk, building...,
never another object): the one-hot labels of the stuff pixels on the hole's border are interpolated
harmonically over the hole (a discrete Laplace equation; thing pixels on the border are walls that
the interpolation neither reads nor crosses), and each pixel takes the class of the largest value.
Harmonic interpolation gives smooth boundaries that run from one border transition to the next, so
there are no Voronoi wedges. It is solved coarse-to-fine (a pyramid with red-black SOR sweeps at each
level), which is fast enough for a 2048x1024 document. Hole parts that touch no stuff at all fall back
to :func:`nearest_fill`.
"""

from __future__ import annotations

import cv2
import numpy as np
from p2phd.editor.errors import DocumentError
from p2phd.models.labels import THING_IDS

_THING = np.zeros(256, bool)
_THING[list(THING_IDS)] = True
_CROSS = np.array([[0, 1, 0], [1, 0, 1], [0, 1, 0]], np.float32)
_SWEEPS = 30
_FINE_SWEEPS = 8
_SMALL_LEVEL = 128 * 128
_LARGE_LEVEL = 512 * 512  # above this (removing a whole road, say), a few sweeps keep it to about a second
_LARGE_SWEEPS = 3
_OMEGA = 1.7  # over-relaxation: converges in far fewer sweeps than Jacobi
_COARSEST = 16


def nearest_fill(label: np.ndarray, inst: np.ndarray, hole: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Label and instance values for the ``True`` pixels of ``hole`` (in ``hole``'s raster order).

    Each hole pixel takes the values of the nearest pixel outside the hole. ``label``, ``inst`` and
    ``hole`` are crops of the same shape; pixels outside the hole are the sources.
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


def _neighbour_sum(values: np.ndarray) -> np.ndarray:
    """Sum of the 4 neighbours of every pixel, per channel (zero outside)."""
    out = cv2.filter2D(values, -1, _CROSS, borderType=cv2.BORDER_CONSTANT)
    return out.reshape(values.shape)


def _relax(values: np.ndarray, known: np.ndarray, unknown: np.ndarray, sweeps: int) -> np.ndarray:
    """Red-black over-relaxed Gauss-Seidel sweeps of the Laplace equation on ``unknown`` pixels.

    ``values`` is H x W x K with ``known`` pixels fixed. Other pixels (walls) hold zeros and are not
    counted as neighbours, so no value flows through them (zero flux).
    """
    count = _neighbour_sum((known | unknown).astype(np.float32))
    update = unknown & (count > 0)
    inv = np.divide(1.0, count, out=np.zeros_like(count), where=update)
    checker = (np.indices(known.shape).sum(axis=0) % 2).astype(bool)
    steps = []
    for colour in (update & checker, update & ~checker):
        weight = (_OMEGA * colour).astype(np.float32)[..., None]
        steps.append((weight * inv[..., None], 1.0 - weight))
    for _ in range(sweeps):
        for scaled, keep in steps:
            # values += omega * (neighbour average - values) on this colour's pixels, in place
            total = _neighbour_sum(values)
            total *= scaled
            values *= keep
            values += total
    return values


def _blocks(a: np.ndarray, combine: np.ufunc) -> np.ndarray:
    """Combine each 2x2 block of an even-sized array (the first two axes) into one value."""
    return combine(combine(a[0::2, 0::2], a[1::2, 0::2]), combine(a[0::2, 1::2], a[1::2, 1::2]))


def _harmonic(values: np.ndarray, known: np.ndarray, unknown: np.ndarray) -> np.ndarray:
    """Solve coarse-to-fine: the half-size problem gives the start for the sweeps at this size."""
    h, w = known.shape
    if max(h, w) > _COARSEST:
        ph, pw = h + h % 2, w + w % 2
        pad = ((0, ph - h), (0, pw - w))
        kn, un = np.pad(known, pad), np.pad(unknown, pad)
        coarse_known = _blocks(kn, np.logical_or)
        coarse_unknown = _blocks(un, np.logical_or) & ~coarse_known
        weights = _blocks(kn.astype(np.float32), np.add)[..., None]
        sums = _blocks(np.pad(values * known[..., None], (*pad, (0, 0))), np.add)
        coarse = np.divide(sums, weights, out=np.zeros_like(sums), where=weights > 0)
        coarse = _harmonic(coarse, coarse_known, coarse_unknown)
        start = coarse.repeat(2, axis=0).repeat(2, axis=1)[:h, :w]
        np.copyto(values, start, where=unknown[..., None])
    # The coarse start is already close: large levels only smooth out the last pixels' detail.
    sweeps = _SWEEPS if h * w <= _SMALL_LEVEL else _FINE_SWEEPS if h * w <= _LARGE_LEVEL else _LARGE_SWEEPS
    return _relax(values, known, unknown, sweeps)


def stuff_fill(label: np.ndarray, inst: np.ndarray, hole: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Label and instance values for the ``True`` pixels of ``hole``, filled from the stuff around it.

    ``label``, ``inst`` and ``hole`` are crops of the same shape with at least one pixel of margin
    around the hole. Hole parts that touch no stuff pixel take :func:`nearest_fill`'s values.
    """
    hole = hole.astype(bool)
    ring = cv2.dilate(hole.view(np.uint8), np.ones((3, 3), np.uint8)).astype(bool) & ~hole
    stuff = ~_THING[label] & (inst < 1000)
    border = ring & stuff
    out_label = np.zeros(hole.shape, np.uint8)
    out_inst = np.zeros(hole.shape, np.int32)
    # Hole pixels connected (through the hole) to a stuff border pixel are filled harmonically.
    _, parts = cv2.connectedComponents((hole | border).view(np.uint8), connectivity=4)
    reached_parts = np.unique(parts[border])
    reached = hole & np.isin(parts, reached_parts) if border.any() else np.zeros_like(hole)
    if reached.any():
        classes = np.unique(label[border])
        values = np.zeros((*hole.shape, len(classes)), np.float32)
        for k, cls in enumerate(classes):
            values[..., k][border & (label == cls)] = 1.0
        values = _harmonic(values, border, reached)
        winner = classes[np.argmax(values[reached], axis=1)]
        out_label[reached] = winner
        out_inst[reached] = winner
    rest = hole & ~reached
    if rest.any():
        fallback_label, fallback_inst = nearest_fill(label, inst, hole)
        picked = rest[hole]
        out_label[rest] = fallback_label[picked]
        out_inst[rest] = fallback_inst[picked]
    return out_label[hole], out_inst[hole]
