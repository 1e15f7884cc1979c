"""Menus, toolbar and keyboard shortcuts. Every command is a QAction kept in ``Actions.by_name`` so
tests and other modules can trigger them; the handlers live in the window and its controllers."""

from __future__ import annotations

from functools import partial

from p2phd.editor.qt.canvas import MODES
from p2phd.editor.qt.toolbar_widgets import BrushSizeBox, CurrentClassWidget
from p2phd.editor.qt.tools import SHORTCUTS, TOOLS
from p2phd.models.vocabulary import DEVICES, PRECISIONS
from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QLabel, QMenu, QSlider, QToolBar

TOOL_TEXT = {
    "brush": "&Brush",
    "eraser": "&Eraser",
    "fill": "&Fill",
    "polygon": "&Polygon / lasso",
    "picker": "P&icker",
    "move": "Select / &move object",
    "insert": "Insert &object",
}
MODE_TEXT = {"side": "Side by side", "overlay": "Overlay", "split": "Split"}


class Actions:
    def __init__(self, window) -> None:
        self.window = window
        self.by_name: dict[str, QAction] = {}
        self._build_file_menu()
        self._build_edit_menu()
        self._build_view_menu()
        self._build_tools_menu()
        self._build_model_menu()
        self._build_toolbar()

    def _add(self, menu: QMenu, name: str, text: str, handler, shortcut=None, checkable=False) -> QAction:
        action = QAction(text, self.window)
        action.setObjectName(name)
        if shortcut:
            shortcuts = shortcut if isinstance(shortcut, list) else [shortcut]
            action.setShortcuts([QKeySequence(s) for s in shortcuts])
        action.setCheckable(checkable)
        action.triggered.connect(handler)
        menu.addAction(action)
        self.by_name[name] = action
        return action

    def _build_file_menu(self) -> None:
        w, files = self.window, self.window.files
        menu = w.menuBar().addMenu("&File")
        self._add(menu, "new", "&New from template", files.new_from_template, "Ctrl+N")
        self._add(menu, "open", "&Open project or label map…", lambda: files.open(), "Ctrl+O")
        self.recent_menu = menu.addMenu("Open &recent")
        files.recent_changed.connect(self.update_recent)
        self.update_recent(files.recent())
        menu.addSeparator()
        self._add(menu, "save", "&Save project", files.save, "Ctrl+S")
        self._add(menu, "save_as", "Save project &as…", lambda: files.save_as(), "Ctrl+Shift+S")
        self._add(menu, "save_maps", "Save &maps (Cityscapes)…", lambda: files.save_maps())
        self._add(menu, "export", "&Export result…", lambda: files.export_result(), "Ctrl+E")
        menu.addSeparator()
        self._add(menu, "quit", "&Quit", w.close, "Ctrl+Q")

    def update_recent(self, paths: list) -> None:
        self.recent_menu.clear()
        for path in paths:
            self.recent_menu.addAction(str(path), partial(self.window.files.open, path))
        self.recent_menu.setEnabled(bool(paths))

    def _build_edit_menu(self) -> None:
        w = self.window
        menu = w.menuBar().addMenu("&Edit")
        self._add(menu, "undo", "&Undo", w.undo, "Ctrl+Z")
        self._add(menu, "redo", "&Redo", w.redo, ["Ctrl+Shift+Z", "Ctrl+Y"])
        menu.addSeparator()
        self._add(menu, "delete", "&Delete selected object", w.delete_selected, ["Del", "Backspace"])
        self._add(menu, "merge_small", "&Merge small objects into their surroundings", w.merge_small_objects)
        toggle = self._add(menu, "new_instance", "&New instance per stroke", w.set_new_instance, "N", True)
        toggle.setChecked(True)

    def _build_view_menu(self) -> None:
        w, canvas = self.window, self.window.canvas
        menu = w.menuBar().addMenu("&View")
        group = QActionGroup(w)
        for n, mode in enumerate(MODES, start=1):
            action = self._add(menu, f"mode_{mode}", MODE_TEXT[mode], partial(canvas.set_mode, mode), f"{n}", True)
            group.addAction(action)
        self.by_name[f"mode_{canvas.mode}"].setChecked(True)
        menu.addSeparator()
        self._add(menu, "fit", "&Fit to window", canvas.fit, "Ctrl+0")
        self._add(menu, "actual_size", "&100 %", canvas.actual_size, "Ctrl+1")
        self._add(menu, "zoom_in", "Zoom &in", lambda: canvas.zoom(1.25), ["Ctrl++", "Ctrl+="])
        self._add(menu, "zoom_out", "Zoom &out", lambda: canvas.zoom(0.8), "Ctrl+-")
        menu.addSeparator()
        instances = self._add(menu, "show_instances", "Show &instance boundaries", canvas.set_show_instances,
                              "Ctrl+I", True)  # fmt: skip
        instances.setChecked(canvas.show_instances)
        menu.addSeparator()
        self.docks_menu = menu.addMenu("&Panels")

    def _build_tools_menu(self) -> None:
        w, tools = self.window, self.window.tools
        menu = w.menuBar().addMenu("&Tools")
        group = QActionGroup(w)
        for name in TOOLS:
            action = self._add(
                menu, f"tool_{name}", TOOL_TEXT[name], partial(tools.set_tool, name), SHORTCUTS[name], True
            )
            group.addAction(action)
        tools.tool_changed.connect(lambda name: self.by_name[f"tool_{name}"].setChecked(True))
        self.by_name[f"tool_{tools.tool}"].setChecked(True)
        menu.addSeparator()
        self._add(menu, "brush_smaller", "Brush s&maller", tools.shrink_brush, "[")
        self._add(menu, "brush_larger", "Brush &larger", tools.grow_brush, "]")

    def _build_model_menu(self) -> None:
        w = self.window
        menu = w.menuBar().addMenu("&Model")
        self.model_menu = menu
        self.model_card_menu = menu.addMenu("Model &card")
        self.set_model_card(None)
        self._add(menu, "open_checkpoint", "&Open checkpoint (bundle or NVIDIA folder)…", w.choose_checkpoint)
        for title, key, values in (("&Device", "device", DEVICES), ("&Precision", "precision", PRECISIONS)):
            sub = menu.addMenu(title)
            group = QActionGroup(w)
            for value in values:
                action = self._add(sub, f"{key}_{value}", value, partial(w.set_model_option, key, value), None, True)
                group.addAction(action)
            self.by_name[f"{key}_auto"].setChecked(True)

    def set_model_card(self, card) -> None:
        """Model ▸ Model card lists the facts of the loaded model (read-only entries)."""
        menu = self.model_card_menu
        menu.clear()
        lines = card.lines() if card is not None else ["No model loaded"]
        for line in lines:
            menu.addAction(line).setEnabled(False)
        if card is not None and card.is_demo:
            menu.addSeparator()
            menu.addAction("A real model: see “Use a real model” in the README").setEnabled(False)
        menu.setTitle(f"Model &card: {card.name}" if card is not None else "Model &card")

    def _build_toolbar(self) -> None:
        w = self.window
        bar = QToolBar("Tools", w)
        bar.setObjectName("tools_toolbar")
        w.addToolBar(Qt.ToolBarArea.TopToolBarArea, bar)
        for name in TOOLS:
            bar.addAction(self.by_name[f"tool_{name}"])
        bar.addSeparator()
        self.current_class = CurrentClassWidget(bar)
        self.current_class.setObjectName("current_class")
        self.current_class.set_label(w.tools.label)
        w.tools.label_changed.connect(self.current_class.set_label)
        bar.addWidget(self.current_class)
        bar.addWidget(QLabel(" Size ", bar))
        self.brush_size = BrushSizeBox(w.tools, bar)
        bar.addWidget(self.brush_size)
        bar.addSeparator()
        for name in ("undo", "redo"):
            bar.addAction(self.by_name[name])
        bar.addSeparator()
        for mode in MODES:
            bar.addAction(self.by_name[f"mode_{mode}"])
        self.opacity = self._slider(bar, "Opacity", 50, lambda v: w.canvas.set_opacity(v / 100))
        self.split = self._slider(bar, "Split", 50, lambda v: w.canvas.set_split(v / 100))
        self.toolbar = bar

    def _slider(self, bar: QToolBar, text: str, value: int, handler) -> QSlider:
        bar.addWidget(QLabel(f" {text} "))
        slider = QSlider(Qt.Orientation.Horizontal)
        slider.setRange(0, 100)
        slider.setValue(value)
        slider.setMaximumWidth(120)
        slider.setObjectName(text.lower())
        slider.valueChanged.connect(handler)
        bar.addWidget(slider)
        return slider
