"""numpy -> Qt image helpers for thumbnails: colour swatches, RGB crops and binary masks.

``*_image`` functions return ``QImage`` and are safe on worker threads (QImage is thread-safe; a
QPixmap is not), so thumbnails are scaled in the background and only turned into pixmaps on the UI
thread with :func:`to_pixmap`.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QIcon, QImage, QPainter, QPixmap

THUMB_SIZE = 96


def rgb_image(rgb: np.ndarray) -> QImage:
    """H x W x 3 uint8 -> a QImage owning its own copy of the pixels."""
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"expected an H x W x 3 uint8 image, got shape {rgb.shape} and dtype {rgb.dtype}")
    data = np.ascontiguousarray(rgb)
    h, w = data.shape[:2]
    return QImage(data.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()


def mask_image(mask: np.ndarray, color: tuple[int, int, int]) -> QImage:
    """A bool H x W mask drawn in ``color`` on a transparent background (RGBA)."""
    mask = np.asarray(mask)
    if mask.ndim != 2 or mask.size == 0:
        raise ValueError(f"expected a non-empty 2-D mask, got shape {mask.shape}")
    rgba = np.zeros((*mask.shape, 4), np.uint8)
    rgba[mask.astype(bool)] = (*color, 255)
    h, w = mask.shape
    return QImage(rgba.data, w, h, 4 * w, QImage.Format.Format_RGBA8888).copy()


def fit(image: QImage, size: int = THUMB_SIZE) -> QImage:
    """Scaled (up or down) to fit a ``size`` square, keeping the aspect ratio."""
    return image.scaled(size, size, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation)


def rgb_thumbnail(rgb: np.ndarray, size: int = THUMB_SIZE) -> QImage:
    return fit(rgb_image(rgb), size)


def mask_thumbnail(mask: np.ndarray, color: tuple[int, int, int], size: int = THUMB_SIZE) -> QImage:
    """The mask in ``color``; black classes (void) are drawn light grey so they stay visible."""
    if tuple(color) == (0, 0, 0):
        color = (200, 200, 200)
    return fit(mask_image(mask, color), size)


def to_pixmap(image: QImage) -> QPixmap:
    """UI thread only."""
    return QPixmap.fromImage(image)


def swatch_icon(color: tuple[int, int, int], size: int = 16) -> QIcon:
    """A filled square of ``color`` with a thin grey border (so black classes stay visible)."""
    pixmap = QPixmap(size, size)
    pixmap.fill(QColor(128, 128, 128))
    inner = QPixmap(size - 2, size - 2)
    inner.fill(QColor(*color))
    painter = QPainter(pixmap)
    painter.drawPixmap(1, 1, inner)
    painter.end()
    return QIcon(pixmap)
