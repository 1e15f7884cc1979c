"""Small widgets that keep the painting state in view, and the filter that gives Ctrl+Z to the document.

- :class:`CurrentClassWidget`: swatch + name of the class the brush paints, always in the toolbar.
- :class:`BrushSizeBox`: the brush radius, editable, following ``[`` / ``]`` and the document default.
- :class:`DocumentUndoFilter`: undo/redo keys act on the document wherever the focus is (a text box
  would otherwise take Ctrl+Z for its own text, e.g. the class filter).
"""

from __future__ import annotations

from p2phd.editor.qt.thumbnails import swatch_icon
from p2phd.models.labels import BY_ID
from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QApplication, QHBoxLayout, QLabel, QSpinBox, QWidget

SWATCH = 18
REDO_KEYS = (QKeySequence("Ctrl+Y"), QKeySequence("Ctrl+Shift+Z"))


def class_name(label: int) -> str:
    lab = BY_ID.get(int(label))
    return lab.name if lab is not None else f"id {label}"


class CurrentClassWidget(QWidget):
    """``[swatch] car`` — the class painted by the brush, fill and polygon tools."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(6, 0, 6, 0)
        self.swatch = QLabel(self)
        self.name = QLabel(self)
        self.name.setObjectName("current_class_name")
        layout.addWidget(QLabel("Class", self))
        layout.addWidget(self.swatch)
        layout.addWidget(self.name)
        self.label: int | None = None

    def set_label(self, label: int) -> None:
        self.label = int(label)
        lab = BY_ID.get(self.label)
        color = lab.color if lab is not None else (255, 0, 255)
        self.swatch.setPixmap(swatch_icon(color, SWATCH).pixmap(SWATCH, SWATCH))
        kind = "" if lab is None else (" (thing)" if lab.has_instances else " (stuff)")
        self.name.setText(f"<b>{class_name(self.label)}</b>")
        self.setToolTip(f"Painting with {class_name(self.label)}, id {self.label}{kind}")


class BrushSizeBox(QSpinBox):
    """The brush radius in document pixels (also shown as the cursor's outline)."""

    def __init__(self, tools, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        from p2phd.editor.qt.tools import MAX_RADIUS, MIN_RADIUS

        self.setObjectName("brush_size")
        self.setRange(MIN_RADIUS, MAX_RADIUS)
        self.setSuffix(" px")
        self.setToolTip("Brush radius in document pixels ([ and ] change it)")
        self.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        self.setValue(tools.radius)
        tools.brush_size_changed.connect(self._follow)
        self.valueChanged.connect(tools.set_radius)

    def _follow(self, radius: int) -> None:
        if radius != self.value():
            self.blockSignals(True)
            self.setValue(radius)
            self.blockSignals(False)


def is_undo_key(event) -> str | None:
    """ "undo", "redo" or None for a key event."""
    if event.matches(QKeySequence.StandardKey.Undo):
        return "undo"
    if event.matches(QKeySequence.StandardKey.Redo):
        return "redo"
    combo = QKeySequence(event.keyCombination())
    if any(combo.matches(k) == QKeySequence.SequenceMatch.ExactMatch for k in REDO_KEYS):
        return "redo"
    return None


class DocumentUndoFilter(QObject):
    """Inside ``window``, undo/redo shortcuts are never taken by a text box (it would undo its own text);
    the window's Undo/Redo actions get them instead.

    It filters the widget that has the focus (Qt sends ``ShortcutOverride`` there), installed as the
    focus moves: a filter on the whole application would take every event of the process through
    Python (and the GIL), mouse moves and paint timers included.
    """

    def __init__(self, window) -> None:
        super().__init__(window)
        self.window = window
        QApplication.instance().focusChanged.connect(self._on_focus)

    def _on_focus(self, old, new) -> None:
        if isinstance(new, QWidget) and new.window() is self.window:
            new.installEventFilter(self)  # again on the same widget: Qt keeps one

    def eventFilter(self, obj, event) -> bool:
        if event.type() != QEvent.Type.ShortcutOverride or not isinstance(obj, QWidget):
            return False
        if obj.window() is not self.window or is_undo_key(event) is None:
            return False
        event.ignore()  # not overridden: the shortcut goes to the window's action
        return True
