"""The object panel: the selected object's class, id and area, and what can be done to it.

Every change goes through the document (so it is undoable); engine work (style thumbnails, the
appearance encoder) is submitted to the engine service (``EngineJobs``), never run on the UI thread.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from p2phd.editor.qt.appearance import PhotoPicker, encode_photo_appearance, pick_photo_files
from p2phd.editor.qt.palette_dock import class_text
from p2phd.editor.qt.style_gallery import BlendControls, StyleGallery
from p2phd.editor.qt.thumbnails import rgb_thumbnail, swatch_icon
from p2phd.models.labels import BY_ID, LABELS, class_of
from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDockWidget,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

#: pixels around the object whose edits make its style thumbnails stale (about the crop they show)
PREVIEW_CONTEXT = 48
#: clusters rendered per engine job: small enough that a stroke's render, queued behind one batch,
#: never waits long (the next batch is submitted when one arrives, behind whatever came meanwhile)
PREVIEW_BATCH = 4


class ObjectPanel(QDockWidget):
    sig_object_changed = Signal(object)  # the new selection (an object id or None)
    sig_message = Signal(str)  # errors and results, for the status bar

    def __init__(self, document, parent: QWidget | None = None):
        super().__init__("Object", parent)
        self.setObjectName("ObjectPanel")
        self.document = None
        self.engine = None
        self.jobs = None  # EngineJobs: where style previews and appearance encoding run
        self.object_id: int | None = None
        self.photo_picker: PhotoPicker = pick_photo_files
        self._unsubscribe: Callable[[], None] | None = None
        self._preview_runs = 0  # style-preview renders started (tests)
        self._thumbnails: list = []
        self._refresh_timer = QTimer(self, singleShot=True, interval=0, timeout=self._after_events)
        self._preview_stale = False
        self._preview_box = None  # the object's box (padded) when its thumbnails were rendered
        self._build()
        self.set_document(document)

    # -- construction ---------------------------------------------------------------------------
    def _build(self) -> None:
        body = QWidget(self)
        layout = QVBoxLayout(body)
        form = QFormLayout()
        self.class_label, self.id_label, self.area_label = QLabel(body), QLabel(body), QLabel(body)
        form.addRow("Class", self.class_label)
        form.addRow("Id", self.id_label)
        form.addRow("Area", self.area_label)
        layout.addLayout(form)

        row = QHBoxLayout()
        self.relabel_combo = QComboBox(body)
        for lab in LABELS:
            self.relabel_combo.addItem(swatch_icon(lab.color), class_text(lab.id), lab.id)
        self.relabel_button = QPushButton("Relabel", body, clicked=self._relabel)
        self.delete_button = QPushButton("Delete", body, clicked=self._delete)
        row.addWidget(self.relabel_combo, 1)
        row.addWidget(self.relabel_button)
        row.addWidget(self.delete_button)
        layout.addLayout(row)

        styles = QGroupBox("Style", body)
        style_layout = QVBoxLayout(styles)
        self.gallery = StyleGallery(styles)
        self.gallery.sig_cluster_chosen.connect(self._apply_cluster)
        style_layout.addWidget(self.gallery)
        self.blend = BlendControls(styles)
        self.blend.sig_blend_chosen.connect(self._apply_blend)
        style_layout.addWidget(self.blend)
        row = QHBoxLayout()
        self.randomize_button = QPushButton("Randomise", styles, clicked=self._randomize)
        self.copy_source = QSpinBox(styles, minimum=0, maximum=33999)
        self.copy_source.setToolTip("Id of the object whose style to copy")
        self.copy_button = QPushButton("Copy style from", styles, clicked=self._copy_style)
        row.addWidget(self.randomize_button)
        row.addStretch(1)
        row.addWidget(self.copy_button)
        row.addWidget(self.copy_source)
        style_layout.addLayout(row)
        self.photo_button = QPushButton("Appearance from photo…", styles, clicked=self._appearance_from_photo)
        style_layout.addWidget(self.photo_button)
        layout.addWidget(styles)

        self.message = QLabel(body)
        self.message.setWordWrap(True)
        layout.addWidget(self.message)
        layout.addStretch(1)
        self.setWidget(body)

    # -- inputs -----------------------------------------------------------------------------------
    def set_document(self, document) -> None:
        self._disconnect()
        self.document = document
        self._unsubscribe = document.subscribe(self._on_document_event)
        self.set_object(None)

    def set_engine(self, engine, jobs=None) -> None:
        """``engine`` for its facts (clusters, config); ``jobs`` (``EngineJobs``) runs it."""
        self.engine = engine
        if jobs is not None:
            self.jobs = jobs
        if engine is not None and self.jobs is None:
            raise ValueError("the object panel needs the engine service (jobs) to run an engine")
        self._request_previews()
        self.refresh()

    def set_object(self, object_id: int | None) -> None:
        self.object_id = None if object_id is None else int(object_id)
        self._cancel("styles")
        self.refresh()
        self._request_previews()

    def wait_for_workers(self, msecs: int = -1) -> bool:
        """Block until the engine thread is idle (shutdown and tests)."""
        return self.jobs is None or self.jobs.wait_idle(msecs)

    def _cancel(self, kind: str) -> None:
        if self.jobs is not None:
            self.jobs.cancel(kind)

    # -- views ----------------------------------------------------------------------------------
    def clusters(self) -> np.ndarray | None:
        """The style clusters of the object's class, when an engine with clusters is set."""
        if self.engine is None or self.object_id is None:
            return None
        centres = self.engine.bundle.clusters.get(class_of(self.object_id))
        return None if centres is None or len(centres) == 0 else centres

    def refresh(self) -> None:
        oid = self.object_id
        area = 0 if oid is None else self.document.object_area(oid)
        exists = area > 0
        if oid is None:
            self.class_label.setText("—")
            self.id_label.setText("no object selected")
            self.area_label.setText("—")
        else:
            lab = BY_ID.get(class_of(oid))
            self.class_label.setText(lab.name if lab else f"unknown ({class_of(oid)})")
            self.id_label.setText(str(oid))
            self.area_label.setText(f"{area} px" if exists else "not in the document")
            index = self.relabel_combo.findData(class_of(oid))
            if index >= 0:
                self.relabel_combo.setCurrentIndex(index)
        for widget in (self.relabel_button, self.relabel_combo, self.delete_button):
            widget.setEnabled(exists)
        centres = self.clusters() if exists else None
        k = 0 if centres is None else len(centres)
        for widget in (self.randomize_button, self.gallery):
            widget.setEnabled(k > 0)
        self.copy_button.setEnabled(exists)
        self.copy_source.setEnabled(exists)
        self.photo_button.setEnabled(exists and self.engine is not None)
        if self.blend.first.maximum() != max(k - 1, 0) or self.blend.isEnabled() != (k >= 2):
            self.blend.set_cluster_count(k)
        if exists and k:
            style = self.document.styles.effective(oid, k)
            self.gallery.set_current(style if isinstance(style, int) else None)

    def _gallery_message(self) -> str | None:
        if self.object_id is None:
            return "Select an object"
        if self.engine is None:
            return "No model loaded: styles need a model"
        if not self.engine.config.instance_feat:
            return "This model has no style clusters"
        if self.clusters() is None:
            return f"No styles for class {BY_ID[class_of(self.object_id)].name}"
        if self.document.object_area(self.object_id) == 0:
            return "The object is not in the document"
        return None

    def _request_previews(self) -> None:
        """Render one thumbnail per cluster of the object's class, in the background."""
        self._preview_stale = False
        message = self._gallery_message()
        if message is not None:
            self._cancel("styles")
            self.gallery.show_message(message)
            return
        from p2phd.models.engine.request import EngineRequest

        doc = self.document  # the request copies the maps itself (holding the GIL: no second copy here)
        request = EngineRequest(doc.label, doc.instance, doc.styles.as_mapping(), revision=doc.revision)
        self._preview_box = self.document.object_bbox(self.object_id).pad(PREVIEW_CONTEXT)
        self._preview_runs += 1
        self._thumbnails = []
        self.gallery.show_busy()
        self._submit_previews(request, self.object_id, len(self.clusters()), 0)

    def _submit_previews(self, request, oid: int, k: int, start: int) -> None:
        """One batch of clusters as a ``styles`` job; the next batch is submitted when it arrives, so
        selecting another object (a newer ``styles`` job) stops the chain."""
        stop = min(start + PREVIEW_BATCH, k)

        def render(engine, should_cancel) -> list:
            _, crops = engine.style_previews(request, oid, range(start, stop))
            return [rgb_thumbnail(crop) for crop in crops]

        def arrived(images: list) -> None:
            self._thumbnails += images
            if stop < k:
                self._submit_previews(request, oid, k, stop)
            else:
                self._show_previews(self._thumbnails)

        self.jobs.submit("styles", render, arrived, self._preview_failed)

    def _show_previews(self, images: list) -> None:
        self.gallery.set_thumbnails(images)
        self.refresh()  # highlights the current cluster

    def _preview_failed(self, exc: BaseException) -> None:
        self.gallery.show_message(f"Style previews failed: {exc}")

    # -- document events --------------------------------------------------------------------------
    def _on_document_event(self, event) -> None:
        if not event.committed or self.object_id is None:
            return
        box = self._preview_box
        if event.kind == "pixels" and (box is None or not event.rect.intersect(box).empty):
            self._preview_stale = True  # the object or its surroundings changed: thumbnails are out of date
        self._refresh_timer.start()  # coalesces a burst of events into one refresh

    def _after_events(self) -> None:
        self.refresh()
        if self._preview_stale:
            self._request_previews()

    # -- actions ------------------------------------------------------------------------------------
    def _act(self, what: str, action: Callable[[], object]) -> tuple[bool, object]:
        """Run a document operation -> (succeeded, result); errors become a message, not a crash in a slot."""
        try:
            result = action()
        except (ValueError, LookupError) as exc:  # DocumentError is a ValueError
            self._say(f"{what} failed: {exc}")
            return False, None
        self._say("")
        return True, result

    def _say(self, text: str) -> None:
        self.message.setText(text)
        if text:
            self.sig_message.emit(text)

    def _delete(self) -> None:
        oid = self.object_id
        if oid is not None and self._act("Delete", lambda: self.document.remove_object(oid))[0]:
            self.set_object(None)
            self.sig_object_changed.emit(None)

    def _relabel(self) -> None:
        oid, label = self.object_id, int(self.relabel_combo.currentData())
        ok, new_id = self._act("Relabel", lambda: self.document.relabel_object(oid, label))
        if ok and new_id != oid:
            self.set_object(new_id)
            self.sig_object_changed.emit(new_id)

    def _apply_cluster(self, index: int) -> None:
        oid = self.object_id
        self._act("Style", lambda: self.document.set_style(oid, index))

    def _apply_blend(self, a: int, b: int, t: float) -> None:
        oid, clusters = self.object_id, self.engine.bundle.clusters if self.engine else {}
        self._act("Blend", lambda: self.document.interpolate_style(oid, a, b, t, clusters))

    def _randomize(self) -> None:
        oid, centres = self.object_id, self.clusters()
        if centres is not None:
            self._act("Randomise", lambda: self.document.randomize_style(oid, len(centres)))

    def _copy_style(self) -> None:
        source, target = self.copy_source.value(), self.object_id
        if self.document.object_area(source) == 0:
            self._say(f"Copy style failed: there is no object {source} in the document")
            return
        self._act("Copy style", lambda: self.document.copy_style(source, target))

    def _appearance_from_photo(self) -> None:
        chosen = self.photo_picker(self)
        if not chosen or self.engine is None:
            return
        self._say("Encoding the photo's appearance…")
        self.jobs.submit(
            "appearance",
            lambda engine, should_cancel: encode_photo_appearance(engine, *chosen),
            self._apply_appearance,
            lambda exc: self._say(f"Appearance from photo failed: {exc}"),
        )

    def _apply_appearance(self, vectors: dict) -> None:
        present = {o.id for o in self.document.objects()}
        common = sorted(present & set(vectors))
        for oid in common:
            self.document.set_vector(oid, vectors[oid])
        self._say(
            f"Appearance from photo applied to {len(common)} objects"
            if common
            else "The photo's maps share no object ids with this document"
        )

    # -- lifetime -------------------------------------------------------------------------------------
    def _disconnect(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    def closeEvent(self, event) -> None:
        self._disconnect()
        self._cancel("styles")
        self._cancel("appearance")
        super().closeEvent(event)

    def showEvent(self, event) -> None:
        if self._unsubscribe is None and self.document is not None:
            self._unsubscribe = self.document.subscribe(self._on_document_event)
            self.refresh()
        super().showEvent(event)
