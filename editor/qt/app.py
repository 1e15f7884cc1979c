"""Start the editor: the Qt application, the first document, the recovery prompt and the model."""

from __future__ import annotations

import sys
from pathlib import Path

from p2phd.editor.document import Document
from p2phd.editor.qt.files import read_document
from p2phd.editor.qt.gc_pauses import freeze_long_lived
from p2phd.editor.qt.main_window import APP_TITLE, MainWindow
from p2phd.models.checkpoint.locate import find_checkpoint
from p2phd.models.errors import CheckpointError
from PySide6.QtWidgets import QApplication


def application() -> QApplication:
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName(APP_TITLE)
    app.setOrganizationName("p2phd")
    return app


def initial_document(path: str | None, instance: str | None) -> Document | None:
    """The document named on the command line (errors are raised before any window opens)."""
    if path is None:
        if instance is not None:
            raise ValueError("an instance map needs its label map: p2phd edit LABEL.png INSTANCE.png")
        return None
    return read_document(path, instance)


def resolve_checkpoint(explicit: str | None) -> Path | None:
    """An explicit checkpoint must exist; without one, a missing demo model just means "no model"."""
    if explicit:
        return find_checkpoint(explicit)
    try:
        return find_checkpoint(None)
    except CheckpointError:
        return None


def open_editor(
    path: str | None = None,
    instance: str | None = None,
    checkpoint: str | None = None,
    device: str = "auto",
    precision: str = "auto",
) -> MainWindow:
    """Build and show the window; the model loads in the background."""
    document = initial_document(path, instance)
    model = resolve_checkpoint(checkpoint)
    application()
    window = MainWindow(document)
    if path is not None:
        window.files.set_opened(path)  # the title names the file (X for X_gtFine_labelIds.png)
    screen = window.screen().availableGeometry()
    window.resize(max(900, int(screen.width() * 0.9)), max(600, int(screen.height() * 0.85)))
    if model is not None:
        window.announce_model(model)  # the demo notice laid out with the window, before its first paint
    window.show()
    freeze_long_lived(window)
    if document is None:
        window.files.offer_recovery()
    if model is None:
        window.show_message("no model: pass --checkpoint DIR or set $P2PHD_CHECKPOINT (the editor works without one)")
    else:
        window.load_model(model, device, precision)
    return window


def run(path=None, instance=None, checkpoint=None, device="auto", precision="auto") -> int:
    window = open_editor(path, instance, checkpoint, device, precision)
    code = QApplication.instance().exec()
    del window
    return int(code)
