"""The main window: composes the canvas, tools, render controller, file controller, actions and docks.

It holds the current document and hands it to each part when it is replaced (open, new, recover).
"""

from __future__ import annotations

import os
from pathlib import Path

from p2phd.editor.autosave import Autosaver
from p2phd.editor.document import Document
from p2phd.editor.errors import DocumentError
from p2phd.editor.qt.actions import Actions
from p2phd.editor.qt.canvas import CanvasView
from p2phd.editor.qt.files import FileController, Prompts
from p2phd.editor.qt.model_notice import DemoModelNotice
from p2phd.editor.qt.render_controller import ModelSettings, RenderController, RenderedFrame
from p2phd.editor.qt.toolbar_widgets import DocumentUndoFilter
from p2phd.editor.qt.tools import ToolManager
from p2phd.models.checkpoint.card import card_for, is_demo, model_card
from p2phd.models.config import ModelConfig
from p2phd.models.errors import CheckpointError
from p2phd.models.labels import BY_ID, class_of
from PySide6.QtCore import QSettings, QStandardPaths, Qt, QTimer
from PySide6.QtWidgets import QApplication, QLabel, QMainWindow, QProgressBar, QVBoxLayout, QWidget

APP_TITLE = "pix2pixHD Studio"
AUTOSAVE_TICK_MS = 1000


class _NextTurn:
    """Runs callbacks on a later turn of the event loop, after the repaint and the input already waiting.

    A zero-interval timer, not a posted call (``QTimer.singleShot(0, ...)``): posted calls run before
    the events already waiting, which would keep the deferred work in the same stall. Made once with
    the window: PySide's first use of a ``singleShot`` overload costs ~100 ms (its signature tables),
    not to be paid at the first stroke's release.
    """

    def __init__(self, parent: QWidget) -> None:
        self._callbacks: list = []
        self._timer = QTimer(parent, singleShot=True, interval=0)
        self._timer.timeout.connect(self._run)

    def __call__(self, callback) -> None:
        self._callbacks.append(callback)
        if not self._timer.isActive():
            self._timer.start()

    def _run(self) -> None:
        callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            callback()


def default_recovery_dir() -> Path:
    env = os.environ.get("P2PHD_RECOVERY_DIR")
    base = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppDataLocation)
    return Path(env) if env else Path(base or Path.home() / ".p2phd") / "recovery"


class MainWindow(QMainWindow):
    def __init__(
        self,
        document: Document | None = None,
        prompts: Prompts | None = None,
        recovery_dir: Path | None = None,
        settings: QSettings | None = None,
        engine_loader=None,
    ) -> None:
        super().__init__()
        self.document: Document | None = None
        self.prompts = prompts or Prompts()
        self._recovered = False
        self._unsubscribe = None
        self._autosaver: Autosaver | None = None
        self._next_turn = _NextTurn(self)
        self.tools = ToolManager(self)
        self.canvas = CanvasView(self.tools, self)
        self.render = RenderController(self, **({"loader": engine_loader} if engine_loader else {}))
        self.files = FileController(
            self,
            self.prompts,
            settings or QSettings("p2phd", "pix2pixHD Studio"),
            recovery_dir or default_recovery_dir(),
        )
        self._build_central()
        self._build_status_bar()
        self.actions = Actions(self)
        self.docks = self._build_docks()
        self._connect()
        self._autosave_timer = QTimer(self, interval=AUTOSAVE_TICK_MS)
        self._autosave_timer.timeout.connect(self._autosave_tick)
        self._autosave_timer.start()
        if document is None:
            from p2phd.editor.template import new_from_template

            document = new_from_template()
        self.set_document(document)
        self.resize(1500, 800)

    # -- construction -------------------------------------------------------------------------------------
    def _build_central(self) -> None:
        """The canvas, with the demo-model notice above it (hidden unless the demo model renders)."""
        central = QWidget(self)
        layout = QVBoxLayout(central)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        self.notice = DemoModelNotice(self.files.settings, central)
        self.notice.sig_open_model.connect(self.choose_checkpoint)
        layout.addWidget(self.notice)
        layout.addWidget(self.canvas, 1)
        self.setCentralWidget(central)
        self.model_card = None
        self._undo_filter = DocumentUndoFilter(self)

    def _build_status_bar(self) -> None:
        bar = self.statusBar()
        self.status_cursor = QLabel("")
        self.status_device = QLabel("no model")
        self.status_latency = QLabel("")
        self.status_state = QLabel("no model")
        self.status_fast = QLabel("", visible=False)  # the fast renderer's preparation (or its failure)
        self.progress = QProgressBar(maximumWidth=120, visible=False)
        self.progress.setRange(0, 0)  # busy indicator: loading has no measurable steps
        bar.addWidget(self.status_cursor, 1)
        for widget in (self.progress, self.status_device, self.status_fast, self.status_latency, self.status_state):
            bar.addPermanentWidget(widget)

    def _build_docks(self) -> dict:
        """B's docks, each optional so that the window works while one is missing or broken."""
        docks = {}
        try:
            from p2phd.editor.qt.palette_dock import ClassPaletteDock

            docks["palette"] = palette = ClassPaletteDock(self)
            palette.set_current_label(self.tools.label)
            palette.sig_label_chosen.connect(self.tools.set_label)
            # Enter in the filter chose a class: back to the canvas, so that B, E, [ ... act on the tools
            palette.search.returnPressed.connect(lambda: palette.visible_labels() and self.canvas.setFocus())
            palette.sig_new_instance_changed.connect(self.set_new_instance)
            self.tools.label_changed.connect(palette.set_current_label)
        except ImportError:
            pass
        try:
            from p2phd.editor.qt.object_panel import ObjectPanel

            docks["object"] = panel = ObjectPanel(Document(16, 16), self)
            self.tools.sig_object_selected.connect(panel.set_object)
            panel.sig_message.connect(self.show_message)
            panel.sig_object_changed.connect(self._on_panel_object)
        except ImportError:
            pass
        try:
            from p2phd.editor.qt.library_dock import LibraryDock

            docks["library"] = library = LibraryDock(self)
            library.sig_entry_chosen.connect(self.tools.set_insert_entry)
        except ImportError:
            pass
        areas = {"palette": Qt.DockWidgetArea.LeftDockWidgetArea}
        for name, dock in docks.items():
            dock.setObjectName(f"{name}_dock")
            self.addDockWidget(areas.get(name, Qt.DockWidgetArea.RightDockWidgetArea), dock)
            self.actions.docks_menu.addAction(dock.toggleViewAction())
        return docks

    def _connect(self) -> None:
        self.canvas.sig_cursor_moved.connect(self._show_cursor)
        self.tools.sig_message.connect(self.show_message)
        self.tools.brush_size_changed.connect(lambda r: self.show_message(f"brush radius {r} px"))
        self.tools.brush_size_changed.connect(lambda _: self.canvas.update())  # the cursor's outline
        self.tools.label_changed.connect(lambda _: self.canvas.update())  # the cursor's colour
        self.tools.sig_object_selected.connect(lambda _: self.canvas.update())  # the selection outline
        self.render.sig_frame.connect(self._on_frame)
        self.render.state_changed.connect(self._on_render_state)
        self.render.engine_changed.connect(self._on_engine)
        self.render.fast_changed.connect(self._on_fast)
        self.render.sig_model_failed.connect(lambda m: self.show_message(f"no model: {m}"))
        self.files.path_changed.connect(lambda _: self._update_title())
        self.files.path_changed.connect(self._set_autosave_source)

    # -- the document -------------------------------------------------------------------------------------------
    def set_document(self, document: Document, recovered: bool = False) -> None:
        if self._unsubscribe:
            self._unsubscribe()
        if self._autosaver is not None:
            self._autosaver.close(discard=True)
        self.document = document
        self._recovered = recovered
        self._unsubscribe = document.subscribe(lambda event: self._update_title())
        self.tools.set_document(document)
        self.canvas.set_document(document)
        self.render.set_document(document)
        if "object" in self.docks:
            self.docks["object"].set_document(document)
        source = str(self.files.path) if self.files.path else None
        # Undo steps are journaled on the next turn of the event loop: a released stroke is drawn first.
        self._autosaver = Autosaver(
            document,
            self.files.recovery_dir,
            background=True,
            source=source,
            defer=self._next_turn,
            copy_maps=lambda: self.render.frozen_maps(document),
        )
        if recovered:
            self._autosaver.save_now()  # its own recovery first: a second crash keeps the work
            self._autosaver.flush()
        self._update_title()

    @property
    def modified(self) -> bool:
        return self.document.modified or self._recovered

    def on_saved(self) -> None:
        self._recovered = False
        if self._autosaver is not None:
            self._autosaver.discard()
        self._update_title()

    def _update_title(self) -> None:
        marker = "*" if self.modified else ""
        self.setWindowTitle(f"{self.files.display_name}{marker} — {APP_TITLE}")

    def _set_autosave_source(self, path) -> None:
        """The recovery prompt names the project the work belongs to."""
        if self._autosaver is not None:
            self._autosaver.source = str(path) if path else None

    def _autosave_tick(self) -> None:
        if self._autosaver is not None:
            self._autosaver.tick()

    # -- commands -------------------------------------------------------------------------------------------------
    def undo(self) -> None:
        self.tools.cancel()
        if not self.document.undo():
            self.show_message("nothing to undo")

    def redo(self) -> None:
        self.tools.cancel()
        if not self.document.redo():
            self.show_message("nothing to redo")

    def delete_selected(self) -> None:
        object_id = self.tools.selected
        if object_id is None:
            self.show_message("select an object first (V, or Alt+click)")
            return
        try:
            self.document.remove_object(object_id)
        except DocumentError as exc:
            self.show_message(str(exc))
            return
        self.tools.select(None)

    def merge_small_objects(self) -> None:
        """Stray clicks (tiny objects inside another object) become part of it: one undo step."""
        merged = self.document.merge_small_objects()
        if merged:
            self.tools.select(None)
        self.show_message(
            f"merged {len(merged)} small object(s) into their surroundings (Ctrl+Z undoes)"
            if merged
            else "no small objects inside other objects"
        )

    def set_new_instance(self, on: bool) -> None:
        self.tools.set_new_instance(on)
        self.actions.by_name["new_instance"].setChecked(bool(on))
        palette = self.docks.get("palette")
        if palette is not None and palette.new_instance != bool(on):
            palette.new_instance = bool(on)

    def _on_panel_object(self, object_id) -> None:
        self.tools.selected = object_id  # follow the panel (e.g. after a delete) without echoing back

    # -- model -------------------------------------------------------------------------------------------------------
    def load_model(self, path: str | Path, device: str = "auto", precision: str = "auto") -> None:
        self.progress.setVisible(True)
        self.announce_model(path)
        self.render.load_model(ModelSettings(Path(path), device, precision))

    def announce_model(self, path: str | Path) -> None:
        """The demo notice at once when ``path`` is the demo model, from its config alone: shown before the
        window is on screen (``open_editor``), it costs no turn of its own when the model is installed."""
        if not is_demo(path):
            return
        try:
            card = card_for(ModelConfig.load(Path(path) / "config.json"), Path(path))
        except (CheckpointError, OSError, ValueError, TypeError):
            return  # the load itself reports what is wrong with the model
        self.notice.offer(card)

    def choose_checkpoint(self) -> None:
        path = self.files.ask_directory("checkpoint", "Open a checkpoint (bundle or NVIDIA folder)")
        if path:
            self.load_model(path)

    def set_model_option(self, key: str, value: str) -> None:
        settings = self.render.settings
        if settings is None:
            self.show_message("load a model first (Model ▸ Open checkpoint…)")
            return
        options = {"device": settings.device, "precision": settings.precision, key: value}
        self.load_model(settings.path, options["device"], options["precision"])

    def _on_engine(self, engine) -> None:
        self.progress.setVisible(self.render.loading)
        if engine is None:
            self.status_device.setText("no model")
        else:
            p = engine.precision
            self.status_device.setText(f"{engine.bundle.model_id} · {p.device} {p.name}")
        self._show_model_card(engine)
        if "object" in self.docks:
            self.docks["object"].set_engine(engine, self.render.jobs)
        library = self.docks.get("library")
        if library is not None:
            library.set_library(self.render.library)  # read on the engine thread

    def _show_model_card(self, engine) -> None:
        """The model's card in the status bar (tooltip) and the Model menu; the demo notice once."""
        bundle = getattr(engine, "bundle", None)
        try:
            card = None if bundle is None else model_card(bundle)
        except (AttributeError, TypeError, ValueError, OSError):
            card = None
        self.model_card = card
        self.actions.set_model_card(card)
        if card is not None:
            p = engine.precision
            self.status_device.setText(f"{card.summary} · {p.device} {p.name}")
            self.status_device.setToolTip("\n".join(card.lines()))
        else:
            self.status_device.setToolTip("")
        if card is not None and card.is_demo and not self.notice.isVisible():
            # the notice's first showing lays out its rich text and the window (~5-15 ms): on a turn of its
            # own, not in the turn that installs the model (already shown: see announce_model)
            self._next_turn(lambda: self._offer_notice(card))
        else:
            self.notice.offer(card)  # hides it

    def _offer_notice(self, card) -> None:
        if card is self.model_card:  # no other model installed meanwhile
            self.notice.offer(card)

    # -- status --------------------------------------------------------------------------------------------------------
    def show_message(self, text: str) -> None:
        self.statusBar().showMessage(text, 5000)

    def _show_cursor(self, point) -> None:
        doc = self.document
        if point is None or not (0 <= point[0] < doc.width and 0 <= point[1] < doc.height):
            self.status_cursor.setText("")
            return
        x, y = int(point[0]), int(point[1])
        label, object_id = doc.pick(x, y)
        name = BY_ID[label].name if label in BY_ID else f"id {label}"
        what = f"object {object_id}" if class_of(object_id) != object_id else "stuff"
        self.status_cursor.setText(f"{x}, {y}   {name}   {what}")

    def _on_frame(self, frame: RenderedFrame) -> None:
        self.canvas.set_result(frame.image, frame.region)
        kind = "preview" if frame.preview else "exact"
        backend = f" · {frame.backend}" if frame.backend and not frame.preview else ""
        self.status_latency.setText(f"{kind} {frame.latency_ms:.0f} ms{backend}")  # e.g. exact 840 ms · openvino

    def _on_fast(self, state: str) -> None:
        """The fast renderer (OpenVINO) while it is prepared in the background, or why it is not used."""
        error = self.render.fast_error
        texts = {"preparing": "preparing fast renderer (OpenVINO)…", "failed": "fast renderer failed · eager"}
        tips = {"preparing": "frames render eager until it is ready", "failed": error}
        self.status_fast.setText(texts.get(state, ""))
        self.status_fast.setToolTip(tips.get(state, ""))
        self.status_fast.setVisible(state in texts)

    def _on_render_state(self, state: str) -> None:
        self.status_state.setText(state)
        self.progress.setVisible(self.render.loading)

    # -- closing -------------------------------------------------------------------------------------------------------
    def closeEvent(self, event) -> None:
        if not self.files.confirm_discard():
            event.ignore()
            return
        self.shutdown()
        event.accept()

    def shutdown(self) -> None:
        """Stop the timers and worker threads; the recovery file goes (the user chose to close)."""
        self._autosave_timer.stop()
        QApplication.instance().removeEventFilter(self._undo_filter)
        self.render.close()
        if self._unsubscribe:
            self._unsubscribe()
            self._unsubscribe = None
        panel = self.docks.get("object")
        if panel is not None and hasattr(panel, "wait_for_workers"):
            panel.wait_for_workers(5000)
        library = self.docks.get("library")
        if library is not None:
            library.close_workers()
        if self._autosaver is not None:
            self._autosaver.close(discard=True)
            self._autosaver = None
