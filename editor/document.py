"""The document: label map, instance map, style table, revision, change events and undo/redo.

All state is plain numpy. ``label`` and ``instance`` are read-only views: every change goes through
an operation method, so it is recorded in the history and announced to subscribers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import numpy as np
from p2phd.editor import object_ops, objects, paint
from p2phd.editor.errors import DocumentError, as_document_errors
from p2phd.editor.events import ChangeEvent, Subscribers
from p2phd.editor.geometry import EMPTY, Rect
from p2phd.editor.history import DEFAULT_MAX_BYTES, History, HistoryItem, Transaction
from p2phd.editor.paint import Stroke
from p2phd.editor.styles import Style, StyleTable
from p2phd.editor.validate import check_maps, raise_on_errors
from p2phd.models.mapfiles import reading, writing
from p2phd.models.mapfiles.atomic import PathLike
from p2phd.models.mapfiles.limits import MAX_SIDE

DEFAULT_WIDTH, DEFAULT_HEIGHT = 2048, 1024


def _read_only(array: np.ndarray) -> np.ndarray:
    view = array.view()
    view.flags.writeable = False
    return view


class Document:
    def __init__(
        self,
        width: int = DEFAULT_WIDTH,
        height: int = DEFAULT_HEIGHT,
        fill: int = 0,
        history_bytes: int = DEFAULT_MAX_BYTES,
    ) -> None:
        if not (0 < int(width) <= MAX_SIDE and 0 < int(height) <= MAX_SIDE):
            raise DocumentError(f"a document is 1..{MAX_SIDE} pixels on each side, got {width}x{height}")
        label = np.full((int(height), int(width)), objects.check_label_id(fill), np.uint8)
        self._subscribers = Subscribers()
        self.history = History(history_bytes)
        self.revision = 0
        self.model_id: str | None = None
        self.warnings: list[str] = []
        self._txn: Transaction | None = None
        self._saved_revision = 0
        self._saved_item = None  # the newest history item when last saved (None: the opened state)
        self._set_maps(label, label.astype(np.int32), StyleTable())

    # -- construction and files --------------------------------------------------------------------
    @classmethod
    def from_arrays(
        cls,
        label: np.ndarray,
        instance: np.ndarray | None = None,
        styles: StyleTable | dict[int, Style] | None = None,
        source: str = "",
    ) -> Document:
        """A document from maps (copied and validated: errors raise :class:`DocumentError`)."""
        label = np.asarray(label)
        if label.ndim == 2 and np.issubdtype(label.dtype, np.integer) and label.size and label.dtype != np.uint8:
            if int(label.min()) < 0 or int(label.max()) > 255:
                raise DocumentError(f"{source or 'label map'}: ids must be in 0..255")
            label = label.astype(np.uint8)
        inst = None if instance is None else np.asarray(instance)
        warnings = raise_on_errors(check_maps(label, inst), source)
        doc = cls(1, 1)
        table = styles if isinstance(styles, StyleTable) else StyleTable(styles)
        doc._set_maps(label.copy(), (label if inst is None else inst).astype(np.int32), table)
        doc.warnings = warnings
        return doc

    @classmethod
    def open(cls, label_png: PathLike, instance_png: PathLike | None = None) -> Document:
        """Cityscapes ``*_labelIds.png`` (or a colour-palette PNG) and optional ``*_instanceIds.png``.

        Without an instance map every pixel's object is its class id (NVIDIA's behaviour).
        """
        with as_document_errors():
            label = reading.read_label(label_png)
            inst = None if instance_png is None else reading.read_instance(instance_png)
        return cls.from_arrays(label, inst, source=str(label_png))

    def save(self, label_png: PathLike, instance_png: PathLike | None = None) -> None:
        """Write Cityscapes maps (8-bit ids, 16-bit instances) as one atomic set."""
        writing.write_maps(label_png, self._label, instance_png, self._inst)
        self.mark_saved()

    def save_color(self, path: PathLike) -> None:
        writing.write_color(path, self._label)

    @classmethod
    def open_project(cls, path: PathLike) -> Document:
        from p2phd.editor.project import load_project

        return load_project(path)

    def save_project(self, path: PathLike) -> None:
        from p2phd.editor.project import save_project

        save_project(self, path)
        self.mark_saved()

    # -- state ----------------------------------------------------------------------------------------
    @property
    def label(self) -> np.ndarray:
        """uint8 H x W Cityscapes ids (read-only view)."""
        return self._label_view

    @property
    def instance(self) -> np.ndarray:
        """int32 H x W: ``class*1000+n`` for thing instances, the class id for stuff and crowds (read-only)."""
        return self._inst_view

    @property
    def styles(self) -> StyleTable:
        return self._styles

    @property
    def width(self) -> int:
        return self._label.shape[1]

    @property
    def height(self) -> int:
        return self._label.shape[0]

    @property
    def modified(self) -> bool:
        """False at the saved (or opened) state, also when undo or redo leads back to it."""
        return self._txn is not None or self.history.top is not self._saved_item

    def mark_saved(self) -> None:
        """The current history position is what the file holds."""
        self._saved_revision = self.revision
        self._saved_item = self.history.top

    @property
    def editing(self) -> bool:
        """True while a stroke is open."""
        return self._txn is not None

    def snapshot(self) -> tuple[np.ndarray, np.ndarray, dict[int, Style], int]:
        """Copies of (label, instance, styles mapping, revision), e.g. for an inference request."""
        return self._label.copy(), self._inst.copy(), self._styles.as_mapping(), self.revision

    def subscribe(self, callback: Callable[[ChangeEvent], None]) -> Callable[[], None]:
        """Call ``callback(ChangeEvent)`` after every change; returns a function that unsubscribes."""
        return self._subscribers.subscribe(callback)

    # -- painting -----------------------------------------------------------------------------------
    def begin_stroke(self, label: int, radius: int, new_instance: bool = True, preserve: int | None = None) -> Stroke:
        """Start a brush stroke; feed it with ``add_point(x, y)`` and finish with ``commit()``/``abort()``.

        Thing classes get a fresh instance id unless ``new_instance=False`` and the first point lies on
        an object of that class (which is then extended). ``preserve`` paints only over that label.
        """
        return Stroke(self, label, radius, new_instance, preserve)

    def paint_stroke(
        self,
        points: Sequence[tuple[float, float]],
        label: int,
        radius: int,
        new_instance: bool = True,
        preserve: int | None = None,
    ) -> int:
        """A whole round-brush stroke along a polyline of (x, y) points; returns the object id painted."""
        return paint.paint_stroke(self, points, label, radius, new_instance, preserve)

    def begin_erase(self, radius: int, fallback: int = 0) -> Stroke:
        """An eraser stroke: paints ``fallback`` (e.g. road), as a new object for thing classes."""
        return Stroke(self, fallback, radius, True, None, action="erase")

    def erase_stroke(self, points: Sequence[tuple[float, float]], radius: int, fallback: int = 0) -> int:
        return paint.paint_stroke(self, points, fallback, radius, True, None, action="erase")

    def fill(self, x: int, y: int, label: int) -> int:
        """Flood-fill the 4-connected region of the object under (x, y); returns the object id written."""
        return paint.fill(self, x, y, label)

    def fill_polygon(
        self, points: Sequence[tuple[float, float]], label: int, new_instance: bool = True, preserve: int | None = None
    ) -> int:
        return paint.fill_polygon(self, points, label, new_instance, preserve)

    def pick(self, x: int, y: int) -> tuple[int, int]:
        """(label id, object id) at (x, y)."""
        return paint.pick(self, x, y)

    # -- objects ------------------------------------------------------------------------------------
    def relabel_object(self, object_id: int, label: int) -> int:
        return object_ops.relabel_object(self, object_id, label)

    def remove_object(self, object_id: int) -> None:
        object_ops.remove_object(self, object_id)

    def move_object(self, object_id: int, dx: int, dy: int) -> None:
        object_ops.move_object(self, object_id, dx, dy)

    def duplicate_object(self, object_id: int, dx: int, dy: int) -> int:
        return object_ops.duplicate_object(self, object_id, dx, dy)

    def insert_object(
        self,
        mask: np.ndarray,
        label: int,
        x: int,
        y: int,
        style: Style | None = None,
        scale: float = 1.0,
        flip: bool = False,
    ) -> int:
        return object_ops.insert_object(self, mask, label, x, y, style, scale, flip)

    def object_bbox(self, object_id: int) -> Rect:
        """Tight box of the object (empty when absent)."""
        return objects.object_bbox(self._inst, object_id)

    def object_area(self, object_id: int) -> int:
        return objects.object_area(self._inst, object_id)

    def objects(self, instances_only: bool = False) -> list[objects.ObjectInfo]:
        """Every object id in the map (stuff classes, crowds, instances) with its class and area."""
        return objects.list_objects(self._inst, instances_only)

    def new_instance_id(self, label: int) -> int:
        return objects.fresh_instance_id(self._inst, objects.check_label_id(label), self._styles)

    # -- styles (each call is one undoable item) ---------------------------------------------------
    def set_style(self, object_id: int, cluster: int) -> None:
        self._styles.set_style(object_id, cluster)

    def set_vector(self, object_id: int, vector: np.ndarray) -> None:
        self._styles.set_vector(object_id, vector)

    def copy_style(self, source_id: int, target_id: int) -> None:
        self._styles.copy_style(source_id, target_id)

    def interpolate_style(
        self, object_id: int, a: int, b: int, t: float, clusters: dict[int, np.ndarray]
    ) -> np.ndarray:
        return self._styles.interpolate(object_id, a, b, t, clusters)

    def randomize_style(self, object_id: int, k: int, seed: int | None = None) -> int:
        return self._styles.randomize(object_id, k, seed)

    # -- undo / redo ----------------------------------------------------------------------------------
    def undo(self) -> bool:
        """Revert the last history item; False when there is none."""
        return self._replay(self.history.pop_undo, forward=False)

    def redo(self) -> bool:
        return self._replay(self.history.pop_redo, forward=True)

    def _replay(self, pop: Callable[[], HistoryItem | None], forward: bool) -> bool:
        if self._txn is not None:
            raise DocumentError("finish the stroke in progress before undo or redo")
        item = pop()
        if item is None:
            return False
        item.apply(self._label, self._inst, self._styles, forward)
        self._announce(item, ("redo " if forward else "undo ") + item.action)
        return True

    # -- internals used by the operation modules ------------------------------------------------------
    def _set_maps(self, label: np.ndarray, inst: np.ndarray, styles: StyleTable) -> None:
        self._label, self._inst = np.ascontiguousarray(label), np.ascontiguousarray(inst, dtype=np.int32)
        self._label_view, self._inst_view = _read_only(self._label), _read_only(self._inst)
        self._styles = styles
        styles._listener = self._on_style_change
        self.history.clear()
        self._saved_item = None

    def _check_xy(self, x: int, y: int) -> tuple[int, int]:
        xi, yi = int(x), int(y)
        if not (0 <= xi < self.width and 0 <= yi < self.height):
            raise DocumentError(f"({x}, {y}) is outside the {self.width}x{self.height} image")
        return xi, yi

    def _begin(self, action: str) -> Transaction:
        if self._txn is not None:
            raise DocumentError(f"another edit ({self._txn.action}) is in progress: commit or abort it first")
        self._txn = Transaction(self._label, self._inst, action)
        return self._txn

    def _write(self, rect: Rect, mask: np.ndarray, label: int | np.ndarray, value: int | np.ndarray) -> None:
        """Set ``label``/``value`` on the ``mask`` pixels of ``rect`` (inside an open transaction)."""
        if self._txn is None:
            raise RuntimeError("_write outside a transaction")
        self._txn.before_write(rect)
        self._label[rect.slices][mask] = label
        self._inst[rect.slices][mask] = value
        self.revision += 1

    def _emit_live(self, rect: Rect) -> None:
        action = self._txn.action if self._txn else ""
        self._subscribers.emit(ChangeEvent("pixels", rect, self.revision, False, action))

    def _commit(self) -> HistoryItem | None:
        txn, self._txn = self._txn, None
        item = txn.finish()
        if item is not None:
            self.history.push(item)
            self._announce(item, item.action, bump=False)
        elif not txn.dirty.empty:
            # Pixels were written (and shown) but ended unchanged: views are already right.
            self._subscribers.emit(ChangeEvent("pixels", txn.dirty, self.revision, True, txn.action))
        return item

    def _abort(self) -> None:
        txn, self._txn = self._txn, None
        rect = txn.rollback(self._styles)
        self.revision += 1
        self._subscribers.emit(ChangeEvent("pixels", rect, self.revision, True, "abort " + txn.action))

    @contextmanager
    def _edit(self, action: str) -> Iterator[Transaction]:
        """One command as one history item; an exception inside rolls everything back."""
        txn = self._begin(action)
        try:
            yield txn
        except BaseException:
            self._txn = None
            txn.rollback(self._styles)
            raise
        self._commit()

    def _announce(self, item: HistoryItem, action: str, bump: bool = True) -> None:
        if bump:
            self.revision += 1
        ids = tuple(sorted({c.object_id for c in item.styles}))
        rect = item.rect
        for oid in ids:
            rect = rect.union(objects.object_bbox(self._inst, oid))
        kind = "pixels" if item.tiles else "styles"
        self._subscribers.emit(ChangeEvent(kind, rect, self.revision, True, action, ids))

    def _on_style_change(self, object_id: int, old: Style | None, new: Style | None) -> None:
        self.revision += 1
        if self._txn is not None:
            self._txn.record_style(object_id, old, new)
            return
        txn = Transaction(self._label, self._inst, "style")
        txn.record_style(object_id, old, new)
        item = txn.finish()
        self.history.push(item)
        self._announce(item, "style", bump=False)


__all__ = ["Document", "DocumentError", "EMPTY", "Rect", "ChangeEvent", "Stroke"]
