"""The class palette: every Cityscapes class with its colour, id and thing/stuff kind, searchable."""

from __future__ import annotations

from p2phd.editor.qt.thumbnails import swatch_icon
from p2phd.models.labels import BY_ID, LABELS
from PySide6.QtCore import Property, Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QDockWidget,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QVBoxLayout,
    QWidget,
)

LABEL_ROLE = Qt.ItemDataRole.UserRole


def class_text(label_id: int) -> str:
    lab = BY_ID[label_id]
    return f"{lab.name}  ({lab.id}, {'thing' if lab.has_instances else 'stuff'})"


class ClassPaletteDock(QDockWidget):
    """Click a class to paint with it; ``set_current_label`` follows the picker without re-emitting."""

    sig_label_chosen = Signal(int)
    sig_new_instance_changed = Signal(bool)

    def __init__(self, parent: QWidget | None = None):
        super().__init__("Classes", parent)
        self.setObjectName("ClassPaletteDock")
        body = QWidget(self)
        layout = QVBoxLayout(body)
        layout.setContentsMargins(4, 4, 4, 4)

        self.search = QLineEdit(body)
        self.search.setPlaceholderText("Search classes…")
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(self._filter)
        self.search.returnPressed.connect(self.choose_first_visible)
        layout.addWidget(self.search)

        self.list = QListWidget(body)
        self.list.setUniformItemSizes(True)
        for lab in LABELS:
            item = QListWidgetItem(swatch_icon(lab.color), class_text(lab.id))
            item.setData(LABEL_ROLE, lab.id)
            item.setToolTip(f"{lab.name}: id {lab.id}, {lab.category}, {'thing' if lab.has_instances else 'stuff'}")
            self.list.addItem(item)
        self.list.itemClicked.connect(self._chosen)
        self.list.itemActivated.connect(self._chosen)  # Enter on the keyboard
        layout.addWidget(self.list, 1)

        self.new_instance_box = QCheckBox("New instance per stroke", body)
        self.new_instance_box.setToolTip("Each stroke of a thing class (car, person…) starts a new object")
        self.new_instance_box.setChecked(True)
        self.new_instance_box.toggled.connect(self.sig_new_instance_changed)
        layout.addWidget(self.new_instance_box)
        self.setWidget(body)

    # -- the current class ---------------------------------------------------------------------
    def current_label(self) -> int | None:
        item = self.list.currentItem()
        return None if item is None else int(item.data(LABEL_ROLE))

    def set_current_label(self, label_id: int) -> None:
        """Select ``label_id`` in the list (clearing a search that hides it); emits nothing."""
        item = self._item(label_id)
        if item is None:
            raise ValueError(f"{label_id!r} is not a Cityscapes label id")
        if item.isHidden():
            self.search.clear()
        self.list.setCurrentItem(item)
        self.list.scrollToItem(item)

    def _item(self, label_id: int) -> QListWidgetItem | None:
        for row in range(self.list.count()):
            item = self.list.item(row)
            if item.data(LABEL_ROLE) == int(label_id):
                return item
        return None

    def _chosen(self, item: QListWidgetItem) -> None:
        self.sig_label_chosen.emit(int(item.data(LABEL_ROLE)))

    def _filter(self, text: str) -> None:
        """Show classes whose name contains every word typed (or whose id is typed)."""
        words = text.lower().split()
        for row in range(self.list.count()):
            item = self.list.item(row)
            lab = BY_ID[int(item.data(LABEL_ROLE))]
            visible = all(
                w in lab.name or w == str(lab.id) or w in ("thing" if lab.has_instances else "stuff") for w in words
            )
            item.setHidden(not visible)

    def choose_first_visible(self) -> int | None:
        """Enter in the filter: paint with the first class still listed (nothing when none matches)."""
        labels = self.visible_labels()
        if not labels:
            return None
        self.list.setCurrentItem(self._item(labels[0]))
        self.sig_label_chosen.emit(labels[0])
        return labels[0]

    def visible_labels(self) -> list[int]:
        return [
            int(self.list.item(r).data(LABEL_ROLE))
            for r in range(self.list.count())
            if not self.list.item(r).isHidden()
        ]

    # -- new instance toggle --------------------------------------------------------------------
    def _get_new_instance(self) -> bool:
        return self.new_instance_box.isChecked()

    def _set_new_instance(self, value: bool) -> None:
        self.new_instance_box.setChecked(bool(value))

    new_instance = Property(bool, _get_new_instance, _set_new_instance, notify=sig_new_instance_changed)
