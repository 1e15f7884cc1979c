"""Files: new from template, open/save project and maps, export the result, recent files, crash
recovery and the unsaved-changes prompt. Every question goes through :class:`Prompts`, which tests
replace so that no modal dialog ever blocks them."""

from __future__ import annotations

import re
from pathlib import Path

from p2phd.editor.document import Document
from p2phd.editor.project import SUFFIX
from p2phd.editor.qt.image_convert import fit_image, qimage_to_rgb
from p2phd.models.mapfiles.writing import write_photo
from PySide6.QtCore import QObject, QSettings, Signal
from PySide6.QtWidgets import QFileDialog, QMessageBox, QWidget

PROJECT_FILTER = f"pix2pixHD Studio project (*{SUFFIX})"
MAPS_FILTER = "Label maps (*.png)"
OPEN_FILTER = f"Projects and label maps (*{SUFFIX} *.png);;{PROJECT_FILTER};;{MAPS_FILTER}"
EXPORT_FILTER = "PNG image (*.png);;JPEG image (*.jpg *.jpeg)"
MAX_RECENT = 8
MAP_SUFFIX = re.compile(r"(_gt(Fine|Coarse))?_(labelIds|instanceIds|labelTrainIds|color)$")


def document_title(path: str | Path | None) -> str:
    """The name a document is known by: ``scene.p2phd`` for a project, ``X`` for ``X_gtFine_labelIds.png``."""
    if path is None:
        return "untitled"
    path = Path(path)
    if path.suffix == SUFFIX:
        return path.name
    return MAP_SUFFIX.sub("", path.stem) or path.stem


class Prompts:
    """Qt dialogs. Each method returns the answer (None when cancelled)."""

    def open_path(self, parent: QWidget, title: str, filters: str, directory: str = "") -> str | None:
        return QFileDialog.getOpenFileName(parent, title, directory, filters)[0] or None

    def save_path(self, parent: QWidget, title: str, filters: str, suggested: str = "") -> str | None:
        """``suggested`` is a file name, in the folder the dialog should open."""
        return QFileDialog.getSaveFileName(parent, title, suggested, filters)[0] or None

    def directory(self, parent: QWidget, title: str, directory: str = "") -> str | None:
        return QFileDialog.getExistingDirectory(parent, title, directory) or None

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
        self.source: Path | None = None  # the file the document came from (project or label map)

    @property
    def display_name(self) -> str:
        return document_title(self.path or self.source)

    # -- the last folder of each kind of file (open, project, maps, export, checkpoint...) ---------------
    def last_dir(self, kind: str) -> str:
        value = self.settings.value(f"last_dir/{kind}", "")
        return str(value) if value and Path(str(value)).is_dir() else ""

    def remember_dir(self, kind: str, path: str | Path) -> None:
        path = Path(path)
        folder = path if path.is_dir() else path.parent
        self.settings.setValue(f"last_dir/{kind}", str(folder.resolve()))

    def _suggest(self, kind: str, name: str) -> str:
        folder = self.last_dir(kind) or self.last_dir("open")
        return str(Path(folder) / name) if folder else name

    def ask_directory(self, kind: str, title: str) -> str | None:
        """A folder dialog that starts where the last one of this kind ended."""
        path = self.prompts.directory(self.window, title, self.last_dir(kind))
        if path:
            self.remember_dir(kind, path)
        return path or None

    def set_opened(self, path: str | Path | None) -> None:
        """The document now shown came from ``path`` (a project is also where Save writes)."""
        self.source = None if path is None else Path(path)
        self._set_path(self.source if self.source is not None and self.source.suffix == SUFFIX else None)

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
            path = self.prompts.open_path(
                self.window, "Open a project or label map", OPEN_FILTER, directory=self.last_dir("open")
            )
            if path is None:
                return False
            self.remember_dir("open", path)
        try:
            document = read_document(path, instance)
        except (ValueError, OSError) as exc:
            self.prompts.error(self.window, f"Cannot open {path}: {exc}")
            return False
        path = Path(path)
        self.window.set_document(document)
        self.set_opened(path)
        self._remember(path)
        return True

    def new_from_template(self) -> bool:
        if not self.confirm_discard():
            return False
        from p2phd.editor.template import new_from_template

        self.window.set_document(new_from_template())
        self.set_opened(None)
        return True

    def offer_recovery(self) -> bool:
        """At start: offer the work of editors that did not close normally (True when recovered)."""
        from p2phd.editor.qt.recovery import offer_recoveries

        return offer_recoveries(self)

    def set_recovered(self, document: Document) -> None:
        self.set_opened(None)  # recovered work belongs to no file until it is saved
        self.window.set_document(document, recovered=True)

    # -- saving -------------------------------------------------------------------------------------------
    def save(self) -> bool:
        return self.save_as(self.path) if self.path else self.save_as()

    def save_as(self, path: str | Path | None = None) -> bool:
        if path is None:
            stem = document_title(self.source) if self.source is not None else "scene"
            stem = stem.removesuffix(SUFFIX)
            path = self.prompts.save_path(
                self.window, "Save project", PROJECT_FILTER, self._suggest("project", f"{stem}{SUFFIX}")
            )
            if path is None:
                return False
            self.remember_dir("project", path)
        path = Path(path)
        if path.suffix != SUFFIX:
            path = path.with_name(path.name + SUFFIX)
        if not self._try(self.window.document.save_project, path):
            return False
        self.source = path
        self._set_path(path)
        self._remember(path)
        self.window.on_saved()
        return True

    def save_maps(self, path: str | Path | None = None) -> bool:
        """Cityscapes maps: ``NAME_gtFine_labelIds.png`` and the ``instanceIds`` beside it."""
        if path is None:
            stem = document_title(self.source).removesuffix(SUFFIX) if self.source is not None else "scene"
            suggested = self._suggest("maps", f"{stem}_gtFine_labelIds.png")
            path = self.prompts.save_path(self.window, "Save label maps", MAPS_FILTER, suggested)
            if path is None:
                return False
            self.remember_dir("maps", path)
        label = Path(path)
        stem = label.name.removesuffix(".png").removesuffix("labelIds").rstrip("_")
        instance = label.with_name(f"{stem}_instanceIds.png")
        if not self._try(self.window.document.save, label, instance):
            return False
        self.window.on_saved()
        return True

    def export_result(self, path: str | Path | None = None) -> bool:
        """The synthesized image at the document's resolution (PNG or JPEG by extension).

        A model whose native size is smaller than the document (the demo renders 1024x512) is scaled
        up (bicubic: sharper than bilinear at 2x), so the file always matches the label map pixel for pixel."""
        if self.window.render.engine is None:
            self.prompts.error(self.window, "There is no synthesized image to export: no model is loaded.")
            return False
        if path is None:
            suggested = self._suggest("export", "result.png")
            path = self.prompts.save_path(self.window, "Export result", EXPORT_FILTER, suggested)
            if path is None:
                return False
            self.remember_dir("export", path)
        path = Path(path)
        if path.suffix.lower() not in (".png", ".jpg", ".jpeg"):
            self.prompts.error(self.window, f"Export as .png, .jpg or .jpeg, not {path.suffix or 'no extension'}")
            return False
        frame = self.window.render.exact_frame()
        if frame is None:
            self.prompts.error(self.window, f"The model could not render the scene ({self.window.render.state}).")
            return False
        doc = self.window.document
        rgb = fit_image(qimage_to_rgb(frame.image), doc.width, doc.height)
        return self._try(write_photo, path, rgb)  # atomic, like every save

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
