"""The canvas: label view (Cityscapes colours) and synthesized result, side by side, overlaid or split.

Both panes share one transform (zoom + pan), so they stay in sync. Mouse events are mapped to
document coordinates and handed to the tool manager; panning (space+drag, middle button) and zoom
(wheel) are handled here. A pixel change recolours only its rectangle and repaints only its area.
"""

from __future__ import annotations

from p2phd.editor.document import Document
from p2phd.editor.events import ChangeEvent
from p2phd.editor.qt.image_convert import LabelImage
from p2phd.editor.qt.overlays import HOVER_FILL, HOVER_LINE, SELECTED_LINE, EdgeLayer, ObjectHighlight, display_radius
from p2phd.models.labels import BY_ID, class_of
from PySide6.QtCore import QPointF, QRect, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPen
from PySide6.QtWidgets import QWidget

MODES = ("side", "overlay", "split")
GAP = 6  # pixels between the two panes in side-by-side mode
MIN_SCALE, MAX_SCALE = 1 / 32, 32.0


class CanvasView(QWidget):
    sig_cursor_moved = Signal(object)  # (x, y) in document pixels, or None when outside
    view_changed = Signal()
    hover_changed = Signal(object)  # the object instance under the cursor, or None

    def __init__(self, tools, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.tools = tools
        self.document: Document | None = None
        self.label_image: LabelImage | None = None
        self.result: QImage | None = None
        self.mode = "side"
        self.opacity = 0.5
        self.split = 0.5
        self.scale = 1.0
        self.offset = QPointF(0, 0)  # where the document origin lies inside each pane
        self._cursor: QPointF | None = None  # widget coordinates
        self._space = False
        self._pan_from: QPointF | None = None
        self._unsubscribe = None
        self._fit_pending = True
        self.show_instances = True  # instance boundaries over the label view
        self.edges: EdgeLayer | None = None
        self.hover: int | None = None
        self._hover_image = ObjectHighlight()
        self._selected_image = ObjectHighlight()
        self.setMouseTracking(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setMinimumSize(200, 120)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)

    # -- content ----------------------------------------------------------------------------------------
    def set_document(self, document: Document) -> None:
        if self._unsubscribe:
            self._unsubscribe()
        self.document = document
        self.label_image = LabelImage(document.label)
        self.edges = EdgeLayer(document.instance, display_radius(self.scale))
        self._invalidate_highlights()
        self.hover = None
        self.result = None
        # the revision up to which every change is drawn: a stroke shows each dab's write as it happens, so
        # its commit (same revision, the whole stroke's box) needs no second redraw of labels and edges
        self._drawn_revision = document.revision
        self._unsubscribe = document.subscribe(self._on_change)
        self._fit_pending = True
        self.fit()

    def _on_change(self, event: ChangeEvent) -> None:
        doc = self.document
        if event.committed or event.kind != "pixels":
            self._invalidate_highlights()
        if event.kind == "document" or self.label_image.size != (doc.width, doc.height):
            self.label_image = LabelImage(doc.label)
            self.edges = EdgeLayer(doc.instance, display_radius(self.scale))
            self._drawn_revision = event.revision
            self.update()
            return
        r = event.rect
        drawn = event.committed and event.revision == self._drawn_revision
        if event.kind == "pixels" and not r.empty and not drawn:
            self.label_image.update(doc.label, (r.x0, r.y0, r.x1, r.y1))
            e = self.edges.update(doc.instance, r)
            self.update_doc_rect(QRectF(e.x0, e.y0, e.width, e.height))
        # one write per revision: an event right after the last drawn one keeps everything drawn; a gap
        # (writes not shown, style changes) waits for the committed event, which redraws its whole box
        if event.kind == "pixels" and (
            event.committed or event.revision in (self._drawn_revision, self._drawn_revision + 1)
        ):
            self._drawn_revision = event.revision
        else:
            self._drawn_revision = -1
        if event.committed:
            self.update()  # outlines of the hovered and selected objects may have changed anywhere

    # -- instances --------------------------------------------------------------------------------------
    def set_show_instances(self, on: bool) -> None:
        self.show_instances = bool(on)
        self.update()

    def _invalidate_highlights(self) -> None:
        self._hover_image.invalidate()
        self._selected_image.invalidate()

    def _update_hover(self, point) -> None:
        """The object instance under the cursor (stuff is not highlighted), None while a tool drags."""
        hover = None
        doc = self.document
        if point is not None and not self.tools.active and 0 <= point[0] < doc.width and 0 <= point[1] < doc.height:
            object_id = int(doc.instance[int(point[1]), int(point[0])])
            hover = object_id if class_of(object_id) != object_id else None
        if hover != self.hover:
            self.hover = hover
            self.hover_changed.emit(hover)
            self.update()

    def _update_edge_radius(self) -> None:
        if self.edges is not None and self.edges.set_radius(display_radius(self.scale)):
            self._invalidate_highlights()

    def set_result(self, image: QImage | None, region: tuple[int, int, int, int] | None = None) -> None:
        """Show a synthesized frame; ``region`` (x0, y0, x1, y1) limits the repaint to what changed."""
        resized = self.result is None or image is None or self.result.size() != image.size()
        self.result = image
        if self.mode != "side":
            self.update()  # overlay and split mix both images everywhere
            return
        pane = self.panes()[1][0]
        if region is None or resized:
            self.update(pane)  # the label pane needs no repaint for a new result
            return
        x0, y0, x1, y1 = region
        sx = self.document.width / image.width()
        sy = self.document.height / image.height()
        tl = self.to_widget(x0 * sx, y0 * sy, pane)
        area = QRectF(tl.x(), tl.y(), (x1 - x0) * sx * self.scale, (y1 - y0) * sy * self.scale)
        self.update(area.toAlignedRect().adjusted(-2, -2, 2, 2).intersected(pane))

    def set_mode(self, mode: str) -> None:
        if mode not in MODES:
            raise ValueError(f"view mode must be one of {', '.join(MODES)}, not {mode!r}")
        self.mode = mode
        self.fit()

    def set_opacity(self, value: float) -> None:
        self.opacity = min(1.0, max(0.0, float(value)))
        self.update()

    def set_split(self, value: float) -> None:
        self.split = min(1.0, max(0.0, float(value)))
        self.update()

    # -- geometry ---------------------------------------------------------------------------------------
    def panes(self) -> list[tuple[QRect, str]]:
        """(widget rectangle, "label"|"result"|"overlay"|"split") for each pane shown."""
        full = self.rect()
        if self.mode != "side":
            return [(full, self.mode)]
        half = (full.width() - GAP) // 2
        return [(QRect(0, 0, half, full.height()), "label"), (QRect(half + GAP, 0, half, full.height()), "result")]

    def pane_at(self, pos: QPointF) -> QRect | None:
        for rect, _ in self.panes():
            if rect.contains(pos.toPoint()):
                return rect
        return None

    def to_doc(self, pos: QPointF) -> tuple[float, float] | None:
        pane = self.pane_at(pos)
        if pane is None:
            return None
        return (
            (pos.x() - pane.x() - self.offset.x()) / self.scale,
            (pos.y() - pane.y() - self.offset.y()) / self.scale,
        )

    def to_widget(self, x: float, y: float, pane: QRect | None = None) -> QPointF:
        pane = pane or self.panes()[0][0]
        return QPointF(pane.x() + self.offset.x() + x * self.scale, pane.y() + self.offset.y() + y * self.scale)

    def update_doc_rect(self, rect: QRectF) -> None:
        for pane, _ in self.panes():
            tl = self.to_widget(rect.left(), rect.top(), pane)
            area = QRectF(tl.x(), tl.y(), rect.width() * self.scale, rect.height() * self.scale)
            self.update(area.toAlignedRect().adjusted(-2, -2, 2, 2).intersected(pane))

    def fit(self) -> None:
        """Show the whole document, and keep doing so when the window is resized."""
        self._fit_pending = True
        doc = self.document
        if doc is None:
            return
        pane = self.panes()[0][0]
        scale = min(pane.width() / doc.width, pane.height() / doc.height)
        self._set_view(max(MIN_SCALE, scale), None)

    def actual_size(self) -> None:
        self._fit_pending = False
        self._set_view(1.0, None)

    def zoom(self, factor: float, around: QPointF | None = None) -> None:
        pane = self.pane_at(around) if around is not None else None
        pane = pane or self.panes()[0][0]
        anchor = around if around is not None else QPointF(pane.center())
        local = anchor - QPointF(pane.topLeft())
        new = min(MAX_SCALE, max(MIN_SCALE, self.scale * factor))
        self._fit_pending = False
        self.offset = local - (local - self.offset) * (new / self.scale)
        self.scale = new
        self._update_edge_radius()
        self.view_changed.emit()
        self.update()

    def _set_view(self, scale: float, offset: QPointF | None) -> None:
        self.scale = scale
        if offset is None:  # centre the document in the pane
            pane = self.panes()[0][0]
            doc = self.document
            offset = QPointF((pane.width() - doc.width * scale) / 2, (pane.height() - doc.height * scale) / 2)
        self.offset = offset
        self._update_edge_radius()
        self.view_changed.emit()
        self.update()

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        if self._fit_pending:
            self.fit()

    # -- painting -------------------------------------------------------------------------------------------
    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        painter.fillRect(event.rect(), QColor(40, 40, 40))
        if self.document is None:
            return
        doc_rect = QRectF(0, 0, self.document.width, self.document.height)
        for pane, kind in self.panes():
            if not pane.intersects(event.rect()):
                continue
            painter.save()
            painter.setClipRect(pane.intersected(event.rect()))
            painter.translate(QPointF(pane.topLeft()) + self.offset)
            painter.scale(self.scale, self.scale)
            self._paint_pane(painter, kind, doc_rect)
            painter.restore()
            self._paint_cursor(painter, pane)
        painter.end()

    def _paint_pane(self, painter: QPainter, kind: str, doc_rect: QRectF) -> None:
        label = self.label_image.image
        result = self.result
        if kind == "result" and result is None:
            painter.fillRect(doc_rect, QColor(70, 70, 70))  # nothing synthesized yet (or no model)
        elif kind == "label" or result is None:
            painter.drawImage(doc_rect, label)
            self._paint_instances(painter, doc_rect)
        elif kind == "result":
            painter.drawImage(doc_rect, result, QRectF(result.rect()))
        elif kind == "overlay":
            painter.drawImage(doc_rect, result, QRectF(result.rect()))
            painter.setOpacity(self.opacity)
            painter.drawImage(doc_rect, label)
            self._paint_instances(painter, doc_rect)
            painter.setOpacity(1.0)
        else:  # split: label on the left of the line, result on the right
            painter.drawImage(doc_rect, label)
            self._paint_instances(painter, doc_rect)
            x = doc_rect.width() * self.split
            painter.save()
            painter.setClipRect(QRectF(x, 0, doc_rect.width() - x, doc_rect.height()), Qt.ClipOperation.IntersectClip)
            painter.drawImage(doc_rect, result, QRectF(result.rect()))
            painter.restore()
            painter.setPen(QPen(QColor(255, 255, 255), 0))
            painter.drawLine(QPointF(x, 0), QPointF(x, doc_rect.height()))
        if kind == "label" or kind in ("overlay", "split"):
            self.tools.paint_overlay(painter, self.scale)

    def _paint_instances(self, painter: QPainter, doc_rect: QRectF) -> None:
        """Boundaries (when shown), the hovered object filled and outlined, the selected one outlined."""
        if self.show_instances and self.edges is not None:
            painter.drawImage(doc_rect, self.edges.image)
        radius = max(1, display_radius(self.scale, 1.0) + 1)
        doc = self.document
        if self.hover is not None and self.hover != self.tools.selected:
            found = self._hover_image.get(doc, self.hover, radius, HOVER_LINE, HOVER_FILL)
            if found is not None:
                painter.drawImage(found[0].x0, found[0].y0, found[1])
        if self.tools.selected is not None and not self.tools.dragging:
            found = self._selected_image.get(doc, self.tools.selected, radius, SELECTED_LINE)
            if found is not None:
                painter.drawImage(found[0].x0, found[0].y0, found[1])

    def brush_color(self) -> QColor:
        """The colour of the class the brush paints (the eraser's class for the eraser)."""
        label = self.tools.eraser_label if self.tools.tool == "eraser" else self.tools.label
        lab = BY_ID.get(label)
        return QColor(*lab.color) if lab is not None else QColor(255, 255, 255)

    def _paint_cursor(self, painter: QPainter, pane: QRect) -> None:
        if self._cursor is None or not self.tools.shows_brush:
            return
        point = self.to_doc(self._cursor)
        if point is None:
            return
        centre = self.to_widget(point[0], point[1], pane)
        radius = self.tools.radius * self.scale
        painter.setClipRect(pane)
        # the outline (black and white: visible on any colour) is the brush's size; inside it, a ring
        # in the colour of the class the brush paints
        for color, width in ((QColor(0, 0, 0), 3), (QColor(255, 255, 255), 1)):
            painter.setPen(QPen(color, width))
            painter.drawEllipse(centre, radius, radius)
        inner = max(1.5, radius - 3)
        painter.setPen(QPen(self.brush_color(), 2.5))
        painter.drawEllipse(centre, inner, inner)

    def _cursor_area(self) -> QRect:
        radius = int(self.tools.radius * self.scale) + 4
        rects = QRect()
        point = self.to_doc(self._cursor) if self._cursor is not None else None
        if point is None:
            return rects
        for pane, _ in self.panes():
            c = self.to_widget(point[0], point[1], pane).toPoint()
            rects = rects.united(QRect(c.x() - radius, c.y() - radius, 2 * radius, 2 * radius))
        return rects

    # -- input ------------------------------------------------------------------------------------------------
    def _panning(self, event) -> bool:
        return event.button() == Qt.MouseButton.MiddleButton or (
            self._space and event.button() == Qt.MouseButton.LeftButton
        )

    def mousePressEvent(self, event) -> None:
        pos = event.position()
        if self._panning(event):
            self._pan_from = pos
            self.setCursor(Qt.CursorShape.ClosedHandCursor)
            return
        point = self.to_doc(pos)
        if point is not None:
            self.tools.press(point[0], point[1], event.button(), event.modifiers())

    def mouseMoveEvent(self, event) -> None:
        pos = event.position()
        old = self._cursor_area()
        self._cursor = pos
        if self._pan_from is not None:
            self.offset = self.offset + (pos - self._pan_from)  # a new point: never mutate a shared one
            self._pan_from = pos
            self._fit_pending = False
            self.view_changed.emit()
            self.update()
            return
        point = self.to_doc(pos)
        self.sig_cursor_moved.emit(point)
        if point is not None:
            self.tools.move(point[0], point[1], event.buttons())
        self._update_hover(point)
        self.update(old.united(self._cursor_area()))
        if self.tools.has_overlay:
            self.update()

    def mouseReleaseEvent(self, event) -> None:
        if self._pan_from is not None and (
            event.button() == Qt.MouseButton.MiddleButton or event.button() == Qt.MouseButton.LeftButton
        ):
            self._pan_from = None
            self.unsetCursor()
            return
        point = self.to_doc(event.position())
        if point is None and self.tools.active:
            point = self.tools.last_point
        if point is not None:
            self.tools.release(point[0], point[1], event.button())
        self.update()

    def mouseDoubleClickEvent(self, event) -> None:
        self.tools.double_click()
        self.update()

    def leaveEvent(self, event) -> None:
        old = self._cursor_area()
        self._cursor = None
        self.sig_cursor_moved.emit(None)
        self._update_hover(None)
        self.update(old)

    def wheelEvent(self, event) -> None:
        delta = event.angleDelta().y()
        if self.tools.wheel(delta, event.modifiers()):
            self.update()
            return
        if delta:
            self._fit_pending = False
            self.zoom(1.25 ** (delta / 120), event.position())

    def keyPressEvent(self, event) -> None:
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space = True
            self.setCursor(Qt.CursorShape.OpenHandCursor)
            return
        if self.tools.key(event.key()):
            self.update()
            return
        super().keyPressEvent(event)

    def keyReleaseEvent(self, event) -> None:
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space = False
            self.unsetCursor()
            return
        super().keyReleaseEvent(event)
