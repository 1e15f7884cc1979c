"""The tool state machine: brush B, eraser E, fill F, polygon/lasso P, picker I (or Alt+click),
select/move V, insert O. Tools receive document coordinates from the canvas and call document
operations; a bad edit becomes a status message, never an exception in the event loop."""

from __future__ import annotations

import math

from p2phd.editor.document import Document
from p2phd.editor.errors import DocumentError
from p2phd.editor.object_ops import prepare_insert_mask
from p2phd.editor.qt.overlays import SELECTED_LINE, mask_image
from p2phd.models.labels import BY_ID, BY_NAME, is_thing
from PySide6.QtCore import QObject, QPointF, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QPainter, QPen, QPolygonF

TOOLS = ("brush", "eraser", "fill", "polygon", "picker", "move", "insert")
SHORTCUTS = {"brush": "B", "eraser": "E", "fill": "F", "polygon": "P", "picker": "I", "move": "V", "insert": "O"}
MIN_RADIUS, MAX_RADIUS = 1, 256
LASSO_STEP = 2.0  # document pixels between lasso points
BRUSH_FRACTION = 64  # the default brush diameter is 1/32 of the document's longer side
GHOST_ALPHA = 170


def default_radius(width: int, height: int) -> int:
    """A brush proportional to the document: 32 px on a 2048x1024 frame (8 px at the demo model's 512),
    so that one stroke visibly changes the synthesized photo."""
    return int(min(MAX_RADIUS, max(2, round(max(width, height) / BRUSH_FRACTION))))


def _class_rgb(label: int) -> tuple[int, int, int]:
    lab = BY_ID.get(int(label))
    return lab.color if lab is not None else (255, 0, 255)


def brush_step(radius: int, grow: bool) -> int:
    """``]`` / ``[``: about 15 % per press, at least one pixel."""
    step = max(1, round(radius * 0.15))
    return min(MAX_RADIUS, radius + step) if grow else max(MIN_RADIUS, radius - step)


class ToolManager(QObject):
    tool_changed = Signal(str)
    brush_size_changed = Signal(int)
    label_changed = Signal(int)  # the class painted by brush, fill, polygon
    sig_object_selected = Signal(object)  # object id or None
    sig_message = Signal(str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.document: Document | None = None
        self.tool = "brush"
        self.label = BY_NAME["car"].id
        self.radius = 12
        self.new_instance = True
        self.eraser_label = BY_NAME["unlabeled"].id
        self.selected: int | None = None
        self.insert_entry = None  # an object-library entry: .mask (bool array), .label, optional .cluster
        self.insert_scale = 1.0
        self.insert_flip = False
        self.last_point: tuple[float, float] | None = None
        self._stroke = None
        self._polygon: list[tuple[float, float]] = []
        self._lasso_points = 0
        self._drag: tuple[float, float] | None = None  # move tool: where the drag started
        self._ghost = None  # move tool: (bbox, QImage of the object's pixels) while dragging
        self._preview_key = None
        self._preview = None  # insert tool: (QImage of the prepared mask, its width, height)
        # the next stroke's fresh instance id, found after a release (not in the press): 30 ms later, after
        # the release's own deferred work (its autosave record), in a turn of its own
        self._prefetch = QTimer(self, singleShot=True, interval=30)
        self._prefetch.timeout.connect(self._prefetch_instance_id)

    # -- settings -------------------------------------------------------------------------------------
    def set_document(self, document: Document) -> None:
        self.cancel()
        self.document = document
        self.set_radius(default_radius(document.width, document.height))
        self.select(None)

    def set_tool(self, name: str) -> None:
        if name not in TOOLS:
            raise ValueError(f"unknown tool {name!r}; tools are {', '.join(TOOLS)}")
        if name != self.tool:
            self.cancel()
            self.tool = name
            self.tool_changed.emit(name)

    def set_label(self, label: int) -> None:
        if int(label) != self.label:
            self.label = int(label)
            self.label_changed.emit(self.label)

    def set_new_instance(self, on: bool) -> None:
        self.new_instance = bool(on)

    def set_radius(self, radius: int) -> None:
        radius = int(min(MAX_RADIUS, max(MIN_RADIUS, radius)))
        if radius != self.radius:
            self.radius = radius
            self.brush_size_changed.emit(radius)

    def grow_brush(self) -> None:
        self.set_radius(brush_step(self.radius, True))

    def shrink_brush(self) -> None:
        self.set_radius(brush_step(self.radius, False))

    def set_insert_entry(self, entry) -> None:
        self.insert_entry = entry
        # library masks keep the size they had in their source map (e.g. 512 wide for the demo
        # model): start at the same size relative to this document
        source = getattr(entry, "image_size", None)
        base = self.document.width / source[0] if source and self.document is not None and source[0] else 1.0
        self.insert_scale, self.insert_flip = min(8.0, max(0.1, base)), False
        self.set_tool("insert")

    def select(self, object_id: int | None) -> None:
        self.selected = object_id
        self.sig_object_selected.emit(object_id)

    # -- state for the canvas ---------------------------------------------------------------------------
    @property
    def shows_brush(self) -> bool:
        return self.tool in ("brush", "eraser")

    @property
    def dragging(self) -> bool:
        """True while the move tool drags an object."""
        return self._drag is not None

    @property
    def active(self) -> bool:
        return self._stroke is not None or self._drag is not None

    @property
    def has_overlay(self) -> bool:
        return bool(self._polygon) or self._drag is not None or self.tool == "insert"

    # -- events -------------------------------------------------------------------------------------------
    def press(self, x: float, y: float, button, modifiers=Qt.KeyboardModifier.NoModifier) -> None:
        if self.document is None or button != Qt.MouseButton.LeftButton:
            return
        self.last_point = (x, y)
        if modifiers & Qt.KeyboardModifier.AltModifier or self.tool == "picker":
            self._guard(self._pick, x, y)
        elif self.tool in ("brush", "eraser"):
            self._guard(self._begin_stroke, x, y)
        elif self.tool == "fill":
            if self._inside(x, y):
                self._guard(self.document.fill, int(x), int(y), self.label)
        elif self.tool == "polygon":
            self._polygon.append((x, y))
            self._lasso_points = 0
        elif self.tool == "move":
            self._guard(self._begin_move, x, y)
        elif self.tool == "insert":
            self._guard(self._insert, x, y)

    def move(self, x: float, y: float, buttons) -> None:
        self.last_point = (x, y)
        if self._stroke is not None:
            self._guard(self._stroke.add_point, x, y)
        elif not buttons:
            self._prefetch_instance_id()  # hovering: ready for the press (once per change)
        elif self.tool == "polygon" and self._polygon and buttons & Qt.MouseButton.LeftButton:
            px, py = self._polygon[-1]
            if math.hypot(x - px, y - py) >= LASSO_STEP:
                self._polygon.append((x, y))
                self._lasso_points += 1

    def release(self, x: float, y: float, button) -> None:
        if button != Qt.MouseButton.LeftButton:
            return
        if self._stroke is not None:
            stroke, self._stroke = self._stroke, None
            self._guard(stroke.commit)
            self._prefetch.start()
        elif self._drag is not None:
            (x0, y0), self._drag = self._drag, None
            self._ghost = None
            dx, dy = math.floor(x) - math.floor(x0), math.floor(y) - math.floor(y0)  # pixel under the cursor
            if self.selected is not None and (dx or dy):
                self._guard(self.document.move_object, self.selected, dx, dy)
        elif self.tool == "polygon" and self._lasso_points > 2:
            self.close_polygon()  # a drag drew a lasso

    def double_click(self) -> None:
        if self.tool == "polygon":
            self.close_polygon()

    def key(self, key) -> bool:
        """Keys the canvas passes on: Escape cancels, Enter closes a polygon, X flips the insert mask."""
        if key == Qt.Key.Key_Escape and (self._polygon or self.active):
            self.cancel()
            return True
        if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and self.tool == "polygon":
            self.close_polygon()
            return True
        if key == Qt.Key.Key_X and self.tool == "insert":
            self.insert_flip = not self.insert_flip
            return True
        return False

    def wheel(self, delta: int, modifiers) -> bool:
        """Ctrl+wheel scales the object to insert; the canvas zooms otherwise."""
        if self.tool == "insert" and modifiers & Qt.KeyboardModifier.ControlModifier and delta:
            self.insert_scale = min(8.0, max(0.1, self.insert_scale * 1.1 ** (delta / 120)))
            return True
        return False

    def cancel(self) -> None:
        if self._stroke is not None:
            stroke, self._stroke = self._stroke, None
            stroke.abort()
        self._polygon.clear()
        self._drag = None
        self._ghost = None

    def close_polygon(self) -> None:
        points, self._polygon = list(self._polygon), []
        # a double-click also pressed twice at the last vertex: drop repeated points
        unique = [p for i, p in enumerate(points) if i == 0 or p != points[i - 1]]
        if len(unique) >= 3:
            self._guard(self.document.fill_polygon, unique, self.label, self.new_instance)
        else:
            self.sig_message.emit("a polygon needs at least 3 points")

    # -- operations -----------------------------------------------------------------------------------------
    def _guard(self, fn, *args):
        try:
            return fn(*args)
        except DocumentError as exc:
            self.sig_message.emit(str(exc))
            return None

    def _inside(self, x: float, y: float) -> bool:
        doc = self.document
        return 0 <= x < doc.width and 0 <= y < doc.height

    def _prefetch_instance_id(self) -> None:
        doc = self.document
        if doc is not None and self.tool == "brush" and is_thing(self.label) and not doc.editing:
            try:
                doc.new_instance_id(self.label)  # remembered by the document until its next change
            except DocumentError:
                pass  # e.g. the class is full: the press says so

    def _begin_stroke(self, x: float, y: float) -> None:
        doc = self.document
        if self.tool == "eraser":
            self._stroke = doc.begin_erase(self.radius, self.eraser_label)
        else:
            self._stroke = doc.begin_stroke(self.label, self.radius, self.new_instance)
        self._stroke.add_point(x, y)

    def _pick(self, x: float, y: float) -> None:
        if self._inside(x, y):
            label, object_id = self.document.pick(int(x), int(y))
            self.set_label(label)
            self.select(object_id)

    def _begin_move(self, x: float, y: float) -> None:
        if self._inside(x, y):
            label, object_id = self.document.pick(int(x), int(y))
            self.select(object_id)
            self._drag = (x, y)
            box = self.document.object_bbox(object_id)
            mask = self.document.instance[box.slices] == object_id
            self._ghost = (box, mask_image(mask, _class_rgb(label), GHOST_ALPHA, SELECTED_LINE))

    def insert_preview(self):
        """(QImage, width, height) of the library mask at the current scale and flip, as it will be placed."""
        entry = self.insert_entry
        if entry is None:
            return None
        key = (id(entry), self.insert_scale, self.insert_flip)
        if key != self._preview_key:
            self._preview_key = key
            try:
                mask = prepare_insert_mask(entry.mask, self.insert_scale, self.insert_flip)
            except DocumentError:
                self._preview = None
            else:
                image = mask_image(mask, _class_rgb(entry.label), GHOST_ALPHA, SELECTED_LINE)
                self._preview = (image, mask.shape[1], mask.shape[0])
        return self._preview

    def _insert(self, x: float, y: float) -> None:
        entry = self.insert_entry
        if entry is None:
            self.sig_message.emit("choose an object in the library dock first")
            return
        sh, sw = prepare_insert_mask(entry.mask, self.insert_scale, self.insert_flip).shape
        style = getattr(entry, "cluster", None)
        # the click marks the bottom centre: where a car or a person touches the ground
        object_id = self.document.insert_object(
            entry.mask, entry.label, round(x - sw / 2), round(y - sh), style, self.insert_scale, self.insert_flip
        )
        self.select(object_id)

    # -- overlay (drawn by the canvas in document coordinates) ----------------------------------------------------
    def paint_overlay(self, painter: QPainter, scale: float) -> None:
        pen = QPen(QColor(255, 255, 0), 1.5 / scale)
        painter.setPen(pen)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        if self._polygon:
            points = [QPointF(x, y) for x, y in self._polygon]
            if self.last_point is not None:
                points.append(QPointF(*self.last_point))
            painter.drawPolyline(QPolygonF(points))
        if self._ghost is not None and self._drag is not None and self.last_point is not None:
            # the object's own pixels follow the cursor, by the whole pixels the drop will move them
            box, image = self._ghost
            dx = math.floor(self.last_point[0]) - math.floor(self._drag[0])
            dy = math.floor(self.last_point[1]) - math.floor(self._drag[1])
            painter.drawImage(QPointF(box.x0 + dx, box.y0 + dy), image)
        if self.tool == "insert" and self.last_point is not None:
            preview = self.insert_preview()
            if preview is not None:
                image, sw, sh = preview
                x, y = self.last_point
                painter.drawImage(QPointF(round(x - sw / 2), round(y - sh)), image)
