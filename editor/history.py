"""Delta undo/redo: each history item keeps only the changed pixels' boxes (old and new values) and style changes.

A :class:`Transaction` is the edit in progress. Before a rectangle is written it copies each 64x64
tile of the image that the edit touches for the first time, so an open stroke holds at most one copy
of the area it touched, however many dabs it paints. :meth:`~Transaction.finish` diffs those tiles
against the current values and keeps, per tile, the box of its changed pixels.

Layout of a :class:`HistoryItem` (plain numpy, e.g. for recovery files): ``rects`` is an int32
``(n, 4)`` array of ``x0, y0, x1, y1`` boxes; ``old_label``/``new_label`` (uint8) and
``old_inst``/``new_inst`` (int32) are flat arrays holding the boxes' pixels one box after the other,
each box row-major; ``styles`` lists :class:`StyleChange` (object id, old, new; ``None`` = no
explicit style).
"""

from __future__ import annotations

import sys
from collections import deque
from dataclasses import dataclass

import numpy as np
from p2phd.editor.geometry import EMPTY, Rect
from p2phd.editor.styles import Style, StyleTable

TILE = 64
DEFAULT_MAX_BYTES = 256 * 2**20


@dataclass
class StyleChange:
    object_id: int
    old: Style | None
    new: Style | None

    @property
    def nbytes(self) -> int:
        own = sys.getsizeof(self) + sys.getsizeof(self.__dict__)
        return own + sum(sys.getsizeof(s) for s in (self.old, self.new) if s is not None)


def _flat(arrays: list[np.ndarray], dtype: type) -> np.ndarray:
    return np.concatenate([a.ravel() for a in arrays]) if arrays else np.zeros(0, dtype)


class HistoryItem:
    """One undo step (see the module docstring for the data layout)."""

    __slots__ = (
        "action",
        "rects",
        "old_label",
        "new_label",
        "old_inst",
        "new_inst",
        "styles",
        "serial",
        "nbytes",
        "__weakref__",
    )

    def __init__(
        self,
        action: str,
        rects: np.ndarray | None = None,
        old_label: np.ndarray | None = None,
        new_label: np.ndarray | None = None,
        old_inst: np.ndarray | None = None,
        new_inst: np.ndarray | None = None,
        styles: list[StyleChange] | None = None,
    ) -> None:
        self.action = action
        self.rects = np.zeros((0, 4), np.int32) if rects is None else np.asarray(rects, np.int32).reshape(-1, 4)
        self.old_label = np.zeros(0, np.uint8) if old_label is None else old_label
        self.new_label = np.zeros(0, np.uint8) if new_label is None else new_label
        self.old_inst = np.zeros(0, np.int32) if old_inst is None else old_inst
        self.new_inst = np.zeros(0, np.int32) if new_inst is None else new_inst
        self.styles = list(styles or [])
        areas = (self.rects[:, 2] - self.rects[:, 0]).astype(np.int64) * (self.rects[:, 3] - self.rects[:, 1])
        total = int(areas.sum())
        for name in ("old_label", "new_label", "old_inst", "new_inst"):
            if getattr(self, name).size != total:
                raise ValueError(
                    f"history item {action!r}: {name} holds {getattr(self, name).size} values, not {total}"
                )
        self.serial = 0  # set by History.push
        # What this item really occupies (arrays with their headers, the object, the lists): the cap
        # in History is meant as memory, so small items must not be counted as almost free.
        arrays = (self.rects, self.old_label, self.new_label, self.old_inst, self.new_inst)
        self.nbytes = (
            sys.getsizeof(self)
            + sum(sys.getsizeof(a) + (0 if a.base is None else a.nbytes) for a in arrays)
            + sys.getsizeof(self.styles)
            + sum(s.nbytes for s in self.styles)
        )

    @property
    def tiles(self) -> bool:
        """True when the item changes pixels."""
        return len(self.rects) > 0

    @property
    def rect(self) -> Rect:
        """Box of the changed pixels (empty for style-only items)."""
        if not len(self.rects):
            return EMPTY
        lo, hi = self.rects[:, :2].min(axis=0), self.rects[:, 2:].max(axis=0)
        return Rect(int(lo[0]), int(lo[1]), int(hi[0]), int(hi[1]))

    def apply(self, label: np.ndarray, inst: np.ndarray, styles: StyleTable, forward: bool) -> None:
        """Write the new values (redo, ``forward``) or the old ones (undo)."""
        src_label = self.new_label if forward else self.old_label
        src_inst = self.new_inst if forward else self.old_inst
        start = 0
        for x0, y0, x1, y1 in self.rects.tolist():
            shape, end = (y1 - y0, x1 - x0), start + (y1 - y0) * (x1 - x0)
            label[y0:y1, x0:x1] = src_label[start:end].reshape(shape)
            inst[y0:y1, x0:x1] = src_inst[start:end].reshape(shape)
            start = end
        changes = self.styles if forward else reversed(self.styles)
        for change in changes:
            styles.restore(change.object_id, change.new if forward else change.old)


@dataclass(frozen=True)
class Savepoint:
    patches: int
    styles: int


class Transaction:
    """The edit in progress (one command, one stroke or a group of them) on ``label`` / ``inst`` arrays."""

    def __init__(self, label: np.ndarray, inst: np.ndarray, action: str) -> None:
        self.action = action
        self._label = label
        self._inst = inst
        # (tile row, tile column) -> the tile's values before this transaction first wrote into it.
        self._tiles: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}
        # Exact patches, kept only while a savepoint is open (a nested edit that may roll back alone).
        self._patches: list[tuple[Rect, np.ndarray, np.ndarray]] = []
        self._savepoints = 0
        self.styles: list[StyleChange] = []
        self.dirty: Rect = EMPTY

    @property
    def nbytes(self) -> int:
        """Memory of the undo data held so far (tile copies and savepoint patches)."""
        tiles = sum(a.nbytes + b.nbytes for a, b in self._tiles.values())
        return tiles + sum(a.nbytes + b.nbytes for _, a, b in self._patches)

    def before_write(self, rect: Rect, mask: np.ndarray | None = None) -> None:
        """Call before writing inside ``rect`` (already clipped to the image), where ``mask`` is set."""
        if rect.empty:
            return
        for ty in range(rect.y0 // TILE, (rect.y1 - 1) // TILE + 1):
            for tx in range(rect.x0 // TILE, (rect.x1 - 1) // TILE + 1):
                if (ty, tx) not in self._tiles:
                    if mask is not None:
                        cell = Rect(tx * TILE, ty * TILE, (tx + 1) * TILE, (ty + 1) * TILE).intersect(rect)
                        if not mask[cell.relative_to(rect).slices].any():
                            continue
                    sl = slice(ty * TILE, (ty + 1) * TILE), slice(tx * TILE, (tx + 1) * TILE)
                    self._tiles[ty, tx] = (self._label[sl].copy(), self._inst[sl].copy())
        if self._savepoints:
            sl = rect.slices
            self._patches.append((rect, self._label[sl].copy(), self._inst[sl].copy()))
        self.dirty = self.dirty.union(rect)

    def record_style(self, object_id: int, old: Style | None, new: Style | None) -> None:
        self.styles.append(StyleChange(object_id, old, new))

    def savepoint(self) -> Savepoint:
        """Mark the current state, to :meth:`rollback_to` it (a nested edit failing) or :meth:`release` it."""
        self._savepoints += 1
        return Savepoint(len(self._patches), len(self.styles))

    def release(self, point: Savepoint) -> None:
        self._savepoints -= 1
        if not self._savepoints:
            self._patches.clear()

    def rollback_to(self, point: Savepoint, styles: StyleTable) -> Rect:
        """Restore the values and styles as they were at ``point`` (and release it); returns the area restored."""
        rect = EMPTY
        for patch_rect, old_label, old_inst in reversed(self._patches[point.patches :]):
            self._label[patch_rect.slices] = old_label
            self._inst[patch_rect.slices] = old_inst
            rect = rect.union(patch_rect)
        del self._patches[point.patches :]
        for change in reversed(self.styles[point.styles :]):
            styles.restore(change.object_id, change.old)
        del self.styles[point.styles :]
        self.release(point)
        return rect

    def rollback(self, styles: StyleTable) -> Rect:
        """Restore every value written so far (abort); returns the rectangle touched."""
        for (ty, tx), (old_label, old_inst) in self._tiles.items():
            sl = slice(ty * TILE, ty * TILE + old_label.shape[0]), slice(tx * TILE, tx * TILE + old_label.shape[1])
            self._label[sl] = old_label
            self._inst[sl] = old_inst
        for change in reversed(self.styles):
            styles.restore(change.object_id, change.old)
        self._tiles.clear()
        self._patches.clear()
        self.styles.clear()
        return self.dirty

    def finish(self) -> HistoryItem | None:
        """The history item of this transaction, or ``None`` when nothing changed."""
        rects, arrays = [], ([], [], [], [])
        for (ty, tx), box, values in _changed_boxes(self._tiles, self._label, self._inst):
            x0, y0 = tx * TILE, ty * TILE
            rects.append((x0 + box.x0, y0 + box.y0, x0 + box.x1, y0 + box.y1))
            for out, tile in zip(arrays, values):
                out.append(tile[box.slices])
        self._tiles.clear()
        self._patches.clear()
        if not rects and not self.styles:
            return None
        return HistoryItem(
            self.action,
            np.array(rects, np.int32).reshape(-1, 4),
            _flat(arrays[0], np.uint8),
            _flat(arrays[1], np.uint8),
            _flat(arrays[2], np.int32),
            _flat(arrays[3], np.int32),
            self.styles,
        )


def _changed_boxes(tiles: dict, label: np.ndarray, inst: np.ndarray):
    """(tile key, box of its changed pixels, (old label, new label, old inst, new inst)) of each tile
    that changed, in row-major tile order.

    Tiles of one shape are compared as one stacked array: a stroke across a 2048-wide document touches
    ~60 tiles, and diffing them one by one cost ~4 ms of the UI thread at the stroke's release.
    """
    groups: dict[tuple[int, int], list] = {}
    for key in sorted(tiles):
        groups.setdefault(tiles[key][0].shape, []).append(key)
    found = []
    for (h, w), keys in groups.items():
        old_label = np.stack([tiles[k][0] for k in keys])
        old_inst = np.stack([tiles[k][1] for k in keys])
        cells = [(slice(ty * TILE, ty * TILE + h), slice(tx * TILE, tx * TILE + w)) for ty, tx in keys]
        new_label = np.stack([label[c] for c in cells])
        new_inst = np.stack([inst[c] for c in cells])
        changed = old_label != new_label
        changed |= old_inst != new_inst
        rows, cols = changed.any(axis=2), changed.any(axis=1)
        y0, y1 = rows.argmax(axis=1), h - rows[:, ::-1].argmax(axis=1)
        x0, x1 = cols.argmax(axis=1), w - cols[:, ::-1].argmax(axis=1)
        for i in np.flatnonzero(rows.any(axis=1)).tolist():
            box = Rect(int(x0[i]), int(y0[i]), int(x1[i]), int(y1[i]))
            found.append((keys[i], box, (old_label[i], new_label[i], old_inst[i], new_inst[i])))
    found.sort(key=lambda entry: entry[0])
    return found


class History:
    """Undo and redo stacks of :class:`HistoryItem` under a memory cap (oldest items dropped first).

    The newest item is always kept, even when it alone exceeds the cap, so the last edit can be undone.
    :attr:`position` names the document state reached by undo/redo, so a saved state can be recognised.
    """

    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        if max_bytes <= 0:
            raise ValueError("the history memory cap must be positive")
        self.max_bytes = int(max_bytes)
        self._undo: deque[HistoryItem] = deque()
        self._redo: list[HistoryItem] = []
        self._bytes = 0
        self._serial = 0
        self._base = 0  # position when the undo stack is empty
        self.dropped = 0  # items dropped by the cap since creation

    @property
    def nbytes(self) -> int:
        return self._bytes

    @property
    def top(self) -> HistoryItem | None:
        """The item the next undo reverts (identifies the position in the history)."""
        return self._undo[-1] if self._undo else None

    @property
    def can_undo(self) -> bool:
        return bool(self._undo)

    @property
    def can_redo(self) -> bool:
        return bool(self._redo)

    @property
    def undo_items(self) -> list[HistoryItem]:
        """The undo stack, oldest first (the next to undo last)."""
        return list(self._undo)

    @property
    def redo_items(self) -> list[HistoryItem]:
        """The redo stack, the next to redo last."""
        return list(self._redo)

    @property
    def undo_actions(self) -> list[str]:
        return [item.action for item in self._undo]

    @property
    def position(self) -> int:
        """An id of the current state in the history: equal ids mean equal documents."""
        return self._undo[-1].serial if self._undo else self._base

    def push(self, item: HistoryItem) -> None:
        """A new edit: clears redo, then drops the oldest items while over the cap."""
        for old in self._redo:
            self._bytes -= old.nbytes
        self._redo.clear()
        self._serial += 1
        item.serial = self._serial
        self._undo.append(item)
        self._bytes += item.nbytes
        while self._bytes > self.max_bytes and len(self._undo) > 1:
            dropped = self._undo.popleft()
            self._bytes -= dropped.nbytes
            self._base = dropped.serial
            self.dropped += 1

    def pop_undo(self) -> HistoryItem | None:
        if not self._undo:
            return None
        item = self._undo.pop()
        self._redo.append(item)
        return item

    def pop_redo(self) -> HistoryItem | None:
        if not self._redo:
            return None
        item = self._redo.pop()
        self._undo.append(item)
        return item

    def clear(self) -> None:
        """Forget every step; the current state gets a new :attr:`position`."""
        self._undo.clear()
        self._redo.clear()
        self._bytes = 0
        self._serial += 1
        self._base = self._serial
