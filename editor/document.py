"""The document: :class:`Document` = state, edits and undo (:mod:`~p2phd.editor.core`) + painting
(:mod:`~p2phd.editor.paint`) + object operations (:mod:`~p2phd.editor.object_ops`) + files.

All state is plain numpy. ``label`` and ``instance`` are read-only views: every change goes through
an edit session (``doc.edit(...)``), so it is recorded in the history and announced to subscribers.
"""

from __future__ import annotations

import numpy as np
from p2phd.editor import objects, project
from p2phd.editor.core import Edit
from p2phd.editor.errors import DocumentError, as_document_errors
from p2phd.editor.events import ChangeEvent
from p2phd.editor.geometry import EMPTY, Rect
from p2phd.editor.history import DEFAULT_MAX_BYTES
from p2phd.editor.object_ops import ObjectOps
from p2phd.editor.paint import PaintOps, Stroke
from p2phd.editor.styles import Style, StyleTable
from p2phd.editor.validate import check_maps, raise_on_errors
from p2phd.models.mapfiles import reading, writing
from p2phd.models.mapfiles.atomic import PathLike
from p2phd.models.mapfiles.limits import MAX_SIDE

DEFAULT_WIDTH, DEFAULT_HEIGHT = 2048, 1024


class Document(PaintOps, ObjectOps):
    def __init__(
        self,
        width: int = DEFAULT_WIDTH,
        height: int = DEFAULT_HEIGHT,
        fill: int = 0,
        history_bytes: int = DEFAULT_MAX_BYTES,
    ) -> None:
        if not (0 < int(width) <= MAX_SIDE and 0 < int(height) <= MAX_SIDE):
            raise DocumentError(f"a document is 1..{MAX_SIDE} pixels on each side, got {width}x{height}")
        label = np.full((int(height), int(width)), objects.check_label_id(fill), np.uint8)
        self.model_id: str | None = None
        self.warnings: list[str] = []
        super().__init__(label, label.astype(np.int32), StyleTable(), history_bytes)

    # -- construction and files --------------------------------------------------------------------
    @classmethod
    def from_arrays(
        cls,
        label: np.ndarray,
        instance: np.ndarray | None = None,
        styles: StyleTable | dict[int, Style] | None = None,
        source: str = "",
    ) -> Document:
        """A document from maps (copied and validated: errors raise :class:`DocumentError`)."""
        label = np.asarray(label)
        if label.ndim == 2 and np.issubdtype(label.dtype, np.integer) and label.size and label.dtype != np.uint8:
            if int(label.min()) < 0 or int(label.max()) > 255:
                raise DocumentError(f"{source or 'label map'}: ids must be in 0..255")
            label = label.astype(np.uint8)
        inst = None if instance is None else np.asarray(instance)
        warnings = raise_on_errors(check_maps(label, inst), source)
        doc = cls(1, 1)
        table = styles if isinstance(styles, StyleTable) else StyleTable(styles)
        doc.replace_maps(label.copy(), (label if inst is None else inst).astype(np.int32), table)
        doc.warnings = warnings
        return doc

    @classmethod
    def open(cls, label_png: PathLike, instance_png: PathLike | None = None) -> Document:
        """Cityscapes ``*_labelIds.png`` (or a colour-palette PNG) and optional ``*_instanceIds.png``.

        Without an instance map every pixel's object is its class id (NVIDIA's behaviour).
        """
        with as_document_errors():
            label = reading.read_label(label_png)
            inst = None if instance_png is None else reading.read_instance(instance_png)
        return cls.from_arrays(label, inst, source=str(label_png))

    def save(self, label_png: PathLike, instance_png: PathLike | None = None) -> None:
        """Write Cityscapes maps (8-bit ids, 16-bit instances) as one atomic set."""
        writing.write_maps(label_png, self.label, instance_png, self.instance)
        self.mark_saved()

    def save_color(self, path: PathLike) -> None:
        writing.write_color(path, self.label)

    @classmethod
    def open_project(cls, path: PathLike) -> Document:
        label, inst, styles, meta = project.read_project(path)
        doc = cls.from_arrays(label, inst, styles, source=str(path))
        doc.model_id = meta.get("model_id")
        return doc

    def save_project(self, path: PathLike) -> None:
        project.save_project(self, path)
        self.mark_saved()


__all__ = ["Document", "DocumentError", "EMPTY", "Rect", "ChangeEvent", "Stroke", "Edit"]
