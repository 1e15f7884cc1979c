"""Files: new from template, open/save project and maps, export the result, recent files, crash
recovery and the unsaved-changes prompt. Every question goes through :class:`Prompts`, which tests
replace so that no modal dialog ever blocks them."""

from __future__ import annotations

from pathlib import Path

from p2phd.editor.document import Document
from p2phd.editor.project import SUFFIX
from PySide6.QtCore import QObject, QSettings, Qt, Signal
from PySide6.QtWidgets import QFileDialog, QMessageBox, QWidget

PROJECT_FILTER = f"pix2pixHD Studio project (*{SUFFIX})"
MAPS_FILTER = "Label maps (*.png)"
OPEN_FILTER = f"Projects and label maps (*{SUFFIX} *.png);;{PROJECT_FILTER};;{MAPS_FILTER}"
EXPORT_FILTER = "PNG image (*.png);;JPEG image (*.jpg *.jpeg)"
MAX_RECENT = 8


class Prompts:
    """Qt dialogs. Each method returns the answer (None when cancelled)."""

    def open_path(self, parent: QWidget, title: str, filters: str) -> str | None:
        return QFileDialog.getOpenFileName(parent, title, "", filters)[0] or None

    def save_path(self, parent: QWidget, title: str, filters: str, suggested: str = "") -> str | None:
        return QFileDialog.getSaveFileName(parent, title, suggested, filters)[0] or None

    def unsaved(self, parent: QWidget, name: str) -> str:
        """ "save", "discard" or "cancel"."""
        buttons = QMessageBox.StandardButton
        answer = QMessageBox.question(
            parent,
            "Unsaved changes",
            f"Save the changes to {name}?",
            buttons.Save | buttons.Discard | buttons.Cancel,
            buttons.Save,
        )
        return {buttons.Save: "save", buttons.Discard: "discard"}.get(answer, "cancel")

    def recover(self, parent: QWidget, recovery) -> bool:
        """Recover a dead instance's work (a :class:`p2phd.editor.recovery.Recovery`, loaded)?"""
        from p2phd.editor.qt.recovery import ask_recover

        return ask_recover(parent, recovery)

    def error(self, parent: QWidget, message: str) -> None:
        QMessageBox.warning(parent, "pix2pixHD Studio", message)


def instance_path_for(label_path: Path) -> Path | None:
    """The Cityscapes ``*_instanceIds.png`` beside a ``*_labelIds.png``, if it exists."""
    name = label_path.name
    if "labelIds" not in name:
        return None
    candidate = label_path.with_name(name.replace("labelIds", "instanceIds"))
    return candidate if candidate.is_file() else None


def read_document(path: str | Path, instance: str | Path | None = None) -> Document:
    """A project (``.p2phd``) or a label PNG with an optional (or auto-detected) instance PNG."""
    path = Path(path)
    if path.suffix == SUFFIX:
        return Document.open_project(path)
    return Document.open(path, instance or instance_path_for(path))


class FileController(QObject):
    """Owns the current file name and the recent-files list; the window owns the document."""

    recent_changed = Signal(list)
    path_changed = Signal(object)  # Path or None

    def __init__(self, window, prompts: Prompts, settings: QSettings, recovery_dir: Path) -> None:
        super().__init__(window)
        self.window = window
        self.prompts = prompts
        self.settings = settings
        self.recovery_dir = Path(recovery_dir)
        self.path: Path | None = None  # the project file, None until saved as a project

    @property
    def display_name(self) -> str:
        return self.path.name if self.path else "untitled"

    # -- recent files -------------------------------------------------------------------------------------
    def recent(self) -> list[str]:
        value = self.settings.value("recent", [])
        items = [value] if isinstance(value, str) else list(value or [])
        return [p for p in items if Path(p).exists()][:MAX_RECENT]

    def _remember(self, path: Path) -> None:
        items = [str(path)] + [p for p in self.recent() if p != str(path)]
        self.settings.setValue("recent", items[:MAX_RECENT])
        self.recent_changed.emit(items[:MAX_RECENT])

    # -- opening ------------------------------------------------------------------------------------------
    def open(self, path: str | Path | None = None, instance: str | Path | None = None) -> bool:
        if not self.confirm_discard():
            return False
        if path is None:
            path = self.prompts.open_path(self.window, "Open a project or label map", OPEN_FILTER)
            if path is None:
                return False
        try:
            document = read_document(path, instance)
        except (ValueError, OSError) as exc:
            self.prompts.error(self.window, f"Cannot open {path}: {exc}")
            return False
        path = Path(path)
        self._set_path(path if path.suffix == SUFFIX else None)
        self.window.set_document(document)
        self._remember(path)
        return True

    def new_from_template(self) -> bool:
        if not self.confirm_discard():
            return False
        from p2phd.editor.template import new_from_template

        self._set_path(None)
        self.window.set_document(new_from_template())
        return True

    def offer_recovery(self) -> bool:
        """At start: offer the work of editors that did not close normally (True when recovered)."""
        from p2phd.editor.qt.recovery import offer_recoveries

        return offer_recoveries(self)

    def set_recovered(self, document: Document) -> None:
        self._set_path(None)
        self.window.set_document(document, recovered=True)

    # -- saving -------------------------------------------------------------------------------------------
    def save(self) -> bool:
        return self.save_as(self.path) if self.path else self.save_as()

    def save_as(self, path: str | Path | None = None) -> bool:
        if path is None:
            path = self.prompts.save_path(self.window, "Save project", PROJECT_FILTER, f"scene{SUFFIX}")
            if path is None:
                return False
        path = Path(path)
        if path.suffix != SUFFIX:
            path = path.with_name(path.name + SUFFIX)
        if not self._try(self.window.document.save_project, path):
            return False
        self._set_path(path)
        self._remember(path)
        self.window.on_saved()
        return True

    def save_maps(self, path: str | Path | None = None) -> bool:
        """Cityscapes maps: ``NAME_gtFine_labelIds.png`` and the ``instanceIds`` beside it."""
        if path is None:
            path = self.prompts.save_path(self.window, "Save label maps", MAPS_FILTER, "scene_gtFine_labelIds.png")
            if path is None:
                return False
        label = Path(path)
        stem = label.name.removesuffix(".png").removesuffix("labelIds").rstrip("_")
        instance = label.with_name(f"{stem}_instanceIds.png")
        return self._try(self.window.document.save, label, instance)

    def export_result(self, path: str | Path | None = None) -> bool:
        """The synthesized image at the document's resolution (PNG or JPEG by extension).

        A model whose native size is smaller than the document (the demo renders 512x256) is scaled
        up smoothly, so the file always matches the label map pixel for pixel."""
        if self.window.render.engine is None:
            self.prompts.error(self.window, "There is no synthesized image to export: no model is loaded.")
            return False
        if path is None:
            path = self.prompts.save_path(self.window, "Export result", EXPORT_FILTER, "result.png")
            if path is None:
                return False
        path = Path(path)
        if path.suffix.lower() not in (".png", ".jpg", ".jpeg"):
            self.prompts.error(self.window, f"Export as .png, .jpg or .jpeg, not {path.suffix or 'no extension'}")
            return False
        frame = self.window.render.exact_frame()
        if frame is None:
            self.prompts.error(self.window, f"The model could not render the scene ({self.window.render.state}).")
            return False
        image = frame.image
        doc = self.window.document
        if (image.width(), image.height()) != (doc.width, doc.height):
            image = image.scaled(doc.width, doc.height, Qt.IgnoreAspectRatio, Qt.SmoothTransformation)
        if not image.save(str(path), None, 95):
            self.prompts.error(self.window, f"Cannot write {path}")
            return False
        return True

    def confirm_discard(self) -> bool:
        """Before replacing or closing a modified document: save, discard or cancel (False)."""
        if not self.window.modified:
            return True
        answer = self.prompts.unsaved(self.window, self.display_name)
        if answer == "save":
            return self.save()
        return answer == "discard"

    def _set_path(self, path: Path | None) -> None:
        self.path = path
        self.path_changed.emit(path)

    def _try(self, fn, *args) -> bool:
        try:
            fn(*args)
        except (ValueError, OSError) as exc:
            self.prompts.error(self.window, str(exc))
            return False
        return True
