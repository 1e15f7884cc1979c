"""The object library dock: thumbnails of real instance masks, filtered by class; click one to insert.

Entries follow :class:`p2phd.models.features.library.LibraryEntry` (only ``.mask`` (bool H x W) and ``.label`` are
required here). Thumbnails are drawn on a background runner; the dock only turns them into icons.
"""

from __future__ import annotations

from p2phd.editor.qt.thumbnails import mask_thumbnail, swatch_icon, to_pixmap
from p2phd.editor.qt.workers import BackgroundRunner
from p2phd.models.labels import BY_ID, PALETTE
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import (
    QComboBox,
    QDockWidget,
    QLabel,
    QListView,
    QListWidget,
    QListWidgetItem,
    QVBoxLayout,
    QWidget,
)

ENTRY_ROLE = Qt.ItemDataRole.UserRole
ALL_CLASSES = -1
THUMB = 72


def entry_tooltip(entry) -> str:
    lab = BY_ID.get(int(entry.label))
    h, w = entry.mask.shape
    parts = [lab.name if lab else f"class {entry.label}", f"{w}x{h} px"]
    if getattr(entry, "cluster", None) is not None:
        parts.append(f"style cluster {entry.cluster}")
    if getattr(entry, "source", ""):
        parts.append(f"from {entry.source}")
    return ", ".join(parts)


def draw_thumbnails(entries: list) -> list:
    """Worker thread: one QImage per entry, its mask in its class colour."""
    return [mask_thumbnail(e.mask, tuple(int(v) for v in PALETTE[int(e.label)]), THUMB) for e in entries]


class LibraryDock(QDockWidget):
    """``set_library(lib)``, then a click on a thumbnail emits ``sig_entry_chosen(entry)``."""

    sig_entry_chosen = Signal(object)

    def __init__(self, parent: QWidget | None = None):
        super().__init__("Object library", parent)
        self.setObjectName("LibraryDock")
        self.library = None
        body = QWidget(self)
        layout = QVBoxLayout(body)
        layout.setContentsMargins(4, 4, 4, 4)
        self.class_filter = QComboBox(body)
        self.class_filter.currentIndexChanged.connect(self._apply_filter)
        layout.addWidget(self.class_filter)
        self.status = QLabel(body)
        self.status.setWordWrap(True)
        layout.addWidget(self.status)
        self.list = QListWidget(body)
        self.list.setViewMode(QListView.ViewMode.IconMode)
        self.list.setResizeMode(QListView.ResizeMode.Adjust)
        self.list.setMovement(QListView.Movement.Static)
        self.list.setIconSize(QSize(THUMB, THUMB))
        self.list.setGridSize(QSize(THUMB + 12, THUMB + 12))
        self.list.setUniformItemSizes(True)
        self.list.itemClicked.connect(self._chosen)
        self.list.itemActivated.connect(self._chosen)
        layout.addWidget(self.list, 1)
        self.setWidget(body)
        self._runner = BackgroundRunner(self)
        self.set_library(None)

    def set_library(self, library) -> None:
        """Show ``library`` (an :class:`~models.library.ObjectLibrary` or anything with ``.entries``)."""
        self.library = library
        self.list.clear()
        entries = list(getattr(library, "entries", []) or [])
        self.class_filter.blockSignals(True)
        self.class_filter.clear()
        self.class_filter.addItem(f"All classes ({len(entries)})", ALL_CLASSES)
        for label in sorted({int(e.label) for e in entries}):
            lab = BY_ID.get(label)
            count = sum(1 for e in entries if int(e.label) == label)
            name = lab.name if lab else f"class {label}"
            self.class_filter.addItem(swatch_icon(tuple(int(v) for v in PALETTE[label])), f"{name} ({count})", label)
        self.class_filter.blockSignals(False)
        if not entries:
            self._runner.cancel()
            self.status.setText("No object library: the model has none" if library is not None else "No model loaded")
            return
        self.status.setText(f"Drawing {len(entries)} thumbnails…")
        self._runner.submit(lambda: draw_thumbnails(entries), lambda images: self._fill(entries, images))

    def _fill(self, entries: list, images: list) -> None:
        for entry, image in zip(entries, images):
            item = QListWidgetItem(QIcon(to_pixmap(image)), "")
            item.setData(ENTRY_ROLE, entry)
            item.setToolTip(entry_tooltip(entry))
            self.list.addItem(item)
        self.status.setText("Click an object, then click on the canvas to place it")
        self._apply_filter()

    def wait_for_thumbnails(self, msecs: int = -1) -> bool:
        return self._runner.wait(msecs)

    def close_workers(self) -> None:
        """Stop the thumbnail thread now, on the UI thread (the window is closing): left to the
        garbage collector, its last reference could go on the worker thread, a Qt object with it."""
        self._runner.close()

    @property
    def ready(self) -> bool:
        """Thumbnails are shown (tests wait on this)."""
        return not self._runner.busy

    def set_class_filter(self, label: int | None) -> None:
        index = self.class_filter.findData(ALL_CLASSES if label is None else int(label))
        if index < 0:
            raise ValueError(f"the library has no objects of class {label}")
        self.class_filter.setCurrentIndex(index)

    def _apply_filter(self, *_args) -> None:
        label = self.class_filter.currentData()
        for row in range(self.list.count()):
            item = self.list.item(row)
            entry = item.data(ENTRY_ROLE)
            item.setHidden(label not in (None, ALL_CLASSES) and int(entry.label) != label)

    def visible_entries(self) -> list:
        return [
            self.list.item(r).data(ENTRY_ROLE) for r in range(self.list.count()) if not self.list.item(r).isHidden()
        ]

    def _chosen(self, item: QListWidgetItem) -> None:
        self.sig_entry_chosen.emit(item.data(ENTRY_ROLE))
