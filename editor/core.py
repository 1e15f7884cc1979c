"""The document's state and its public edit API: maps, styles, revision, change events, edit sessions, undo.

Operations (painting in :mod:`p2phd.editor.paint`, whole objects in :mod:`p2phd.editor.object_ops`)
change the maps only through an :class:`Edit` session::

    with doc.edit("fill") as e:
        e.write(rect, mask, label, value)

An edit records history (one undo step when the outermost edit commits) and announces changes to
subscribers. Edits nest: several operations inside ``with doc.edit("appearance from photo"):`` form
one undo step; a nested edit that raises is rolled back alone, the outermost one rolls back everything.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from p2phd.editor import objects
from p2phd.editor.errors import DocumentError
from p2phd.editor.events import ChangeEvent, Subscribers
from p2phd.editor.geometry import EMPTY, Rect
from p2phd.editor.history import History, HistoryItem, Savepoint, Transaction
from p2phd.editor.styles import Style, StyleTable


def _read_only(array: np.ndarray) -> np.ndarray:
    view = array.view()
    view.flags.writeable = False
    return view


class Session:
    """Used as a context manager: :meth:`commit` when the block ends, :meth:`abort` when it raises."""

    def commit(self) -> object:
        raise NotImplementedError

    def abort(self) -> None:
        raise NotImplementedError

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.abort()


class Edit(Session):
    """An open edit session of a document (see the module docstring); get one from :meth:`DocumentCore.edit`.

    Used as a context manager it commits, or aborts when the block raises. Interactive tools keep it
    open across events (a brush stroke) and call :meth:`commit` or :meth:`abort` themselves.
    """

    def __init__(self, doc: DocumentCore, action: str) -> None:
        self.action = action
        self._doc = doc
        self._outer = doc._txn is None
        if self._outer:
            doc._txn = Transaction(doc._label, doc._inst, action)
            self._savepoint: Savepoint | None = None
        else:
            self._savepoint = doc._txn.savepoint()
        self._txn = doc._txn
        self.dirty = EMPTY
        self._open = True

    @property
    def open(self) -> bool:
        return self._open

    def write(self, rect: Rect, mask: np.ndarray, label: int | np.ndarray, value: int | np.ndarray) -> None:
        """Set ``label``/``value`` on the ``mask`` pixels of ``rect`` (inside the image).

        ``label`` and ``value`` are scalars or arrays with one value per ``True`` pixel of ``mask``.
        """
        self._check_open()
        doc = self._doc
        if rect.empty:
            return
        if rect.clip(doc.width, doc.height) != rect:
            raise DocumentError(f"{rect} is not inside the {doc.width}x{doc.height} image")
        mask = np.asarray(mask, bool)
        if mask.shape != (rect.height, rect.width):
            raise DocumentError(f"a mask of shape {mask.shape} does not fit {rect}")
        tight = Rect.from_mask(mask, rect.x0, rect.y0)  # pixels in the same order: per-pixel values still fit
        if tight.empty:
            return
        if tight != rect:
            mask, rect = mask[tight.relative_to(rect).slices], tight
        self._txn.before_write(rect, mask)
        doc._label[rect.slices][mask] = label
        doc._inst[rect.slices][mask] = value
        doc.revision += 1
        self.dirty = self.dirty.union(rect)

    def show(self, rect: Rect) -> None:
        """Announce pixels written so far (not yet a history boundary): views redraw them at once."""
        self._check_open()
        self._doc._emit(ChangeEvent("pixels", rect, self._doc.revision, False, self._txn.action))

    def commit(self) -> HistoryItem | None:
        """End this edit; the outermost one becomes one undo step (returned, ``None`` when nothing changed)."""
        if not self._open:
            return None
        self._open = False
        doc = self._doc
        if not self._outer:
            self._txn.release(self._savepoint)
            if not self.dirty.empty:
                doc._emit(ChangeEvent("pixels", self.dirty, doc.revision, False, self.action))
            return None
        doc._txn = None
        item = self._txn.finish()
        if item is not None:
            doc.history.push(item)
            doc._announce(item, item.action, bump=False)
        elif not self._txn.dirty.empty:
            # Pixels were written (and shown) but ended unchanged: views are already right.
            doc._emit(ChangeEvent("pixels", self._txn.dirty, doc.revision, True, self.action))
        return item

    def abort(self) -> None:
        """Undo everything this edit wrote (pixels and styles); nothing enters the history."""
        if not self._open:
            return
        self._open = False
        doc = self._doc
        if self._outer:
            doc._txn = None
            rect = self._txn.rollback(doc._styles)
        else:
            rect = self._txn.rollback_to(self._savepoint, doc._styles)
        doc.revision += 1
        doc._emit(ChangeEvent("pixels", rect, doc.revision, self._outer, "abort " + self.action))

    def _check_open(self) -> None:
        if not self._open:
            raise DocumentError(f"the edit {self.action!r} is already finished")
        if self._doc._txn is not self._txn:
            raise DocumentError(f"the edit {self.action!r} outlived the edit it was part of")


class DocumentCore:
    """Label map (uint8), instance map (int32), style table, revision, events, edits and undo/redo.

    ``label`` and ``instance`` are read-only views: every change goes through :meth:`edit`.
    """

    def __init__(self, label: np.ndarray, inst: np.ndarray, styles: StyleTable, history_bytes: int) -> None:
        self._subscribers = Subscribers()
        self.history = History(history_bytes)
        self.revision = 0
        self._txn: Transaction | None = None
        self._saved_position = 0
        self.replace_maps(label, inst, styles)

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
    def is_modified(self) -> bool:
        """True unless the document is in its saved state (undoing back to it counts as saved)."""
        dirty = self._txn is not None and not self._txn.dirty.empty
        return dirty or self.history.position != self._saved_position

    modified = is_modified

    def mark_saved(self) -> None:
        """Remember the current state as the saved one (file writers call it after a successful save)."""
        self._saved_position = self.history.position

    @property
    def pending_undo_bytes(self) -> int:
        """Memory held by the open edit's undo data (at most one copy of each 64x64 tile it touched)."""
        return 0 if self._txn is None else self._txn.nbytes

    @property
    def editing(self) -> bool:
        """True while an edit (e.g. a stroke) is open."""
        return self._txn is not None

    def snapshot(self) -> tuple[np.ndarray, np.ndarray, dict[int, Style], int]:
        """Copies of (label, instance, styles mapping, revision), e.g. for an inference request."""
        return self._label.copy(), self._inst.copy(), self._styles.as_mapping(), self.revision

    def subscribe(self, callback: Callable[[ChangeEvent], None]) -> Callable[[], None]:
        """Call ``callback(ChangeEvent)`` after every change; returns a function that unsubscribes."""
        return self._subscribers.subscribe(callback)

    def check_xy(self, x: int, y: int) -> tuple[int, int]:
        """(x, y) as ints, or :class:`DocumentError` when outside the image."""
        try:
            xi, yi = int(x), int(y)
        except (TypeError, ValueError, OverflowError):
            raise DocumentError(f"({x}, {y}) is not a pixel position") from None
        if not (0 <= xi < self.width and 0 <= yi < self.height):
            raise DocumentError(f"({x}, {y}) is outside the {self.width}x{self.height} image")
        return xi, yi

    def pick(self, x: int, y: int) -> tuple[int, int]:
        """(label id, object id) at (x, y)."""
        x, y = self.check_xy(x, y)
        return int(self._label[y, x]), int(self._inst[y, x])

    def object_at(self, x: int, y: int) -> int:
        """The object id under (x, y) (an instance id, or the class id for stuff and crowds)."""
        x, y = self.check_xy(x, y)
        return int(self._inst[y, x])

    # -- edits ------------------------------------------------------------------------------------------
    def edit(self, action: str) -> Edit:
        """Open an edit session named ``action`` (the undo step's name); see :class:`Edit`."""
        return Edit(self, action)

    # -- objects ------------------------------------------------------------------------------------
    def object_bbox(self, object_id: int) -> Rect:
        """Tight box of the object (empty when absent)."""
        return objects.object_bbox(self._inst, object_id)

    def object_area(self, object_id: int) -> int:
        return objects.object_area(self._inst, object_id)

    def objects(self, instances_only: bool = False) -> list[objects.ObjectInfo]:
        """Every object id in the map (stuff classes, crowds, instances) with its class and area."""
        return objects.list_objects(self._inst, instances_only)

    def new_instance_id(self, label: int) -> int:
        """A fresh ``label*1000 + n`` id (see :func:`objects.fresh_instance_id`), remembered until the next
        change: finding it scans the whole map (~4-10 ms at 2048 x 1024), which a GUI does ahead (after
        a stroke's release, while hovering) instead of in the press that starts the next stroke."""
        label = objects.check_label_id(label)
        if self._fresh_id is None or self._fresh_id[0] != (self.revision, label):
            self._fresh_id = ((self.revision, label), objects.fresh_instance_id(self._inst, label, self._styles))
        return self._fresh_id[1]

    # -- styles (each call is one undoable item, or part of the open edit) ------------------------------
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
            raise DocumentError(f"finish the edit in progress ({self._txn.action}) before undo or redo")
        item = pop()
        if item is None:
            return False
        item.apply(self._label, self._inst, self._styles, forward)
        self._announce(item, ("redo " if forward else "undo ") + item.action)
        return True

    # -- internals ------------------------------------------------------------------------------------
    def replace_maps(self, label: np.ndarray, inst: np.ndarray, styles: StyleTable) -> None:
        """Replace the maps and styles (construction, loading); clears the history: the new state is saved."""
        if self._txn is not None:
            raise DocumentError("finish the edit in progress before replacing the maps")
        self._label, self._inst = np.ascontiguousarray(label), np.ascontiguousarray(inst, dtype=np.int32)
        self._label_view, self._inst_view = _read_only(self._label), _read_only(self._inst)
        self._fresh_id: tuple[tuple[int, int], int] | None = None  # ((revision, label), id)
        self._styles = styles
        styles.listen(self._on_style_change)
        self.history.clear()
        self.mark_saved()

    def _emit(self, event: ChangeEvent) -> None:
        self._subscribers.emit(event)

    def _announce(self, item: HistoryItem, action: str, bump: bool = True) -> None:
        if bump:
            self.revision += 1
        ids = tuple(sorted({c.object_id for c in item.styles}))
        rect = item.rect
        for oid in ids:
            rect = rect.union(objects.object_bbox(self._inst, oid))
        kind = "pixels" if item.tiles else "styles"
        self._emit(ChangeEvent(kind, rect, self.revision, True, action, ids))

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
