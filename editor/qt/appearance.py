"""Appearance from a photo: pick a photo with its label/instance maps, encode per-object style vectors.

The encoding runs as an engine-service job (:func:`encode_photo_appearance`, on the engine thread);
the object panel applies the vectors to the objects the photo and the document share.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from p2phd.models.mapfiles.reading import read_instance, read_label, read_photo
from PySide6.QtWidgets import QFileDialog, QWidget

#: photo_picker(parent) -> (photo, label map, instance map or None), or None when cancelled.
PhotoPicker = Callable[[QWidget], "tuple[str, str, str | None] | None"]
IMAGES = "Images (*.png *.jpg *.jpeg *.bmp)"


def pick_photo_files(parent: QWidget) -> tuple[str, str, str | None] | None:
    """Three file dialogs: the photo, its label ids map, its instance ids map (optional).

    The first starts in the folder of the last photo (remembered by the window's file controller), the
    label map's dialog in the photo's folder and the instance map's in the label map's folder."""
    files = getattr(parent.window(), "files", None)
    start = files.last_dir("photo") if files is not None else ""
    photo, _ = QFileDialog.getOpenFileName(parent, "Photo to take appearances from", start, IMAGES)
    if not photo:
        return None
    if files is not None:
        files.remember_dir("photo", photo)
    folder = str(Path(photo).parent)
    label, _ = QFileDialog.getOpenFileName(parent, "Label map of that photo (*_labelIds.png)", folder, IMAGES)
    if not label:
        return None
    folder = str(Path(label).parent)
    instance, _ = QFileDialog.getOpenFileName(parent, "Instance map (*_instanceIds.png), or cancel", folder, IMAGES)
    return photo, label, instance or None


def encode_photo_appearance(engine, photo_path: str, label_path: str, instance_path: str | None) -> dict:
    """Read the photo and its maps and run the engine's encoder (engine thread); {object id: vector}."""
    photo = read_photo(photo_path)  # writable arrays: torch.from_numpy warns on read-only ones
    label = read_label(label_path)
    instance = None if instance_path is None else read_instance(instance_path)
    return engine.encode_appearance(photo, label, instance)
