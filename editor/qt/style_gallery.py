"""Style widgets of the object panel: the cluster thumbnail gallery and the two-cluster blend slider.

Both are passive views: they show what they are given and emit what the user chose; the object
panel renders the thumbnails in the background and changes the document.
"""

from __future__ import annotations

from p2phd.editor.qt.thumbnails import THUMB_SIZE, to_pixmap
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QImage
from PySide6.QtWidgets import (
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QSlider,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

COLUMNS = 3


class StyleGallery(QWidget):
    """One checkable thumbnail button per cluster; clicking one emits ``sig_cluster_chosen(index)``."""

    sig_cluster_chosen = Signal(int)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.status = QLabel("Select an object", self)
        self.status.setWordWrap(True)
        layout.addWidget(self.status)
        self._grid = QGridLayout()
        self._grid.setSpacing(2)
        layout.addLayout(self._grid)
        self.buttons: list[QToolButton] = []
        self._current: int | None = None

    def show_message(self, text: str) -> None:
        """No thumbnails, only ``text`` (no model, no clusters, rendering…)."""
        self._clear_buttons()
        self.status.setText(text)

    def show_busy(self, text: str = "Rendering styles…") -> None:
        """Keep the old thumbnails (disabled) while new ones render."""
        self.status.setText(text)
        for button in self.buttons:
            button.setEnabled(False)

    def set_thumbnails(self, images: list[QImage], current: int | None = None) -> None:
        self._clear_buttons()
        self.status.setText(f"{len(images)} styles: click one to apply")
        for index, image in enumerate(images):
            button = QToolButton(self)
            button.setCheckable(True)
            button.setAutoRaise(True)
            button.setIcon(to_pixmap(image))
            button.setIconSize(QSize(THUMB_SIZE, THUMB_SIZE))
            button.setToolTip(f"Style cluster {index}")
            button.setObjectName(f"style_{index}")
            button.clicked.connect(lambda _checked=False, i=index: self._clicked(i))
            self._grid.addWidget(button, index // COLUMNS, index % COLUMNS)
            self.buttons.append(button)
        self.set_current(current)

    def set_current(self, index: int | None) -> None:
        """Check the button of the object's cluster (none when its style is a vector or the default)."""
        self._current = index
        for i, button in enumerate(self.buttons):
            button.setChecked(i == index)

    def _clicked(self, index: int) -> None:
        self.set_current(index)
        self.sig_cluster_chosen.emit(index)

    def _clear_buttons(self) -> None:
        for button in self.buttons:
            self._grid.removeWidget(button)
            button.deleteLater()
        self.buttons = []


class BlendControls(QWidget):
    """Clusters a and b and a slider t in [0, 1]; emits ``sig_blend_chosen(a, b, t)`` when t settles
    (slider released, or changed by keyboard/click), so a drag makes one undo item, not fifty."""

    sig_blend_chosen = Signal(int, int, float)
    STEPS = 100

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.first = QSpinBox(self)
        self.first.setToolTip("Cluster at the left end of the slider")
        self.second = QSpinBox(self)
        self.second.setToolTip("Cluster at the right end of the slider")
        self.slider = QSlider(Qt.Orientation.Horizontal, self)
        self.slider.setRange(0, self.STEPS)
        self.slider.setPageStep(10)
        self.slider.setToolTip("Blend between the two clusters")
        self.slider.valueChanged.connect(self._value_changed)
        self.slider.sliderReleased.connect(self._emit)
        layout.addWidget(QLabel("Blend", self))
        layout.addWidget(self.first)
        layout.addWidget(self.slider, 1)
        layout.addWidget(self.second)
        self.set_cluster_count(0)

    def set_cluster_count(self, k: int) -> None:
        self.setEnabled(k >= 2)
        top = max(k - 1, 0)
        self.first.setRange(0, top)
        self.second.setRange(0, top)
        self.first.setValue(0)
        self.second.setValue(min(1, top))

    @property
    def t(self) -> float:
        return self.slider.value() / self.STEPS

    def _value_changed(self, _value: int) -> None:
        if not self.slider.isSliderDown():
            self._emit()

    def _emit(self) -> None:
        self.sig_blend_chosen.emit(self.first.value(), self.second.value(), self.t)
