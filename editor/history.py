"""Delta undo/redo: each history item keeps only the changed tiles (old and new values) and style changes.

A :class:`Transaction` records the values of every rectangle just before it is written (a dab, a
fill...). Its :meth:`~Transaction.finish` rebuilds the pre-edit values of the union rectangle from
those patches, diffs them against the current values and keeps the changed 64x64 tiles, cropped to
their changed pixels. Nothing copies the whole image per dab.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np
from p2phd.editor.geometry import EMPTY, Rect
from p2phd.editor.styles import Style, StyleTable

TILE = 64
DEFAULT_MAX_BYTES = 256 * 2**20


@dataclass
class TileDelta:
    rect: Rect
    old_label: np.ndarray
    new_label: np.ndarray
    old_inst: np.ndarray
    new_inst: np.ndarray

    @property
    def nbytes(self) -> int:
        return self.old_label.nbytes + self.new_label.nbytes + self.old_inst.nbytes + self.new_inst.nbytes


@dataclass
class StyleChange:
    object_id: int
    old: Style | None
    new: Style | None

    @property
    def nbytes(self) -> int:
        return 64 + sum(s.nbytes for s in (self.old, self.new) if isinstance(s, np.ndarray))


@dataclass
class HistoryItem:
    action: str
    tiles: list[TileDelta] = field(default_factory=list)
    styles: list[StyleChange] = field(default_factory=list)
    rect: Rect = EMPTY  # tight box of the changed pixels

    @property
    def nbytes(self) -> int:
        return 256 + sum(t.nbytes for t in self.tiles) + sum(s.nbytes for s in self.styles)

    def apply(self, label: np.ndarray, inst: np.ndarray, styles: StyleTable, forward: bool) -> None:
        """Write the new values (redo, ``forward``) or the old ones (undo)."""
        for tile in self.tiles:
            sl = tile.rect.slices
            label[sl] = tile.new_label if forward else tile.old_label
            inst[sl] = tile.new_inst if forward else tile.old_inst
        changes = self.styles if forward else reversed(self.styles)
        for change in changes:
            styles._put(change.object_id, change.new if forward else change.old)


class Transaction:
    """The edit in progress (one command or one stroke) on ``label`` / ``inst`` arrays."""

    def __init__(self, label: np.ndarray, inst: np.ndarray, action: str) -> None:
        self.action = action
        self._label = label
        self._inst = inst
        self._patches: list[tuple[Rect, np.ndarray, np.ndarray]] = []
        self.styles: list[StyleChange] = []
        self.dirty: Rect = EMPTY

    def before_write(self, rect: Rect) -> None:
        """Call before writing inside ``rect`` (already clipped to the image)."""
        if rect.empty:
            return
        sl = rect.slices
        self._patches.append((rect, self._label[sl].copy(), self._inst[sl].copy()))
        self.dirty = self.dirty.union(rect)

    def record_style(self, object_id: int, old: Style | None, new: Style | None) -> None:
        self.styles.append(StyleChange(object_id, old, new))

    def rollback(self, styles: StyleTable) -> Rect:
        """Restore every value written so far (abort); returns the rectangle touched."""
        for rect, old_label, old_inst in reversed(self._patches):
            self._label[rect.slices] = old_label
            self._inst[rect.slices] = old_inst
        for change in reversed(self.styles):
            styles._put(change.object_id, change.old)
        self._patches.clear()
        self.styles.clear()
        return self.dirty

    def finish(self) -> HistoryItem | None:
        """The history item of this transaction, or ``None`` when nothing changed."""
        tiles = self._diff_tiles() if self._patches else []
        self._patches.clear()
        if not tiles and not self.styles:
            return None
        rect = EMPTY
        for tile in tiles:
            rect = rect.union(tile.rect)
        return HistoryItem(self.action, tiles, list(self.styles), rect)

    def _diff_tiles(self) -> list[TileDelta]:
        box = self.dirty
        new_label, new_inst = self._label[box.slices], self._inst[box.slices]
        old_label, old_inst = new_label.copy(), new_inst.copy()
        for rect, patch_label, patch_inst in reversed(self._patches):
            sl = rect.relative_to(box).slices
            old_label[sl] = patch_label
            old_inst[sl] = patch_inst
        changed = (old_label != new_label) | (old_inst != new_inst)
        tiles = []
        # The tile grid is aligned to the image so that neighbouring strokes share tile borders.
        for ty in range(box.y0 // TILE * TILE, box.y1, TILE):
            for tx in range(box.x0 // TILE * TILE, box.x1, TILE):
                cell = Rect(tx, ty, tx + TILE, ty + TILE).intersect(box)
                local = cell.relative_to(box)
                tight = Rect.from_mask(changed[local.slices], cell.x0, cell.y0)
                if tight.empty:
                    continue
                sl = tight.relative_to(box).slices
                tiles.append(
                    TileDelta(
                        tight, old_label[sl].copy(), new_label[sl].copy(), old_inst[sl].copy(), new_inst[sl].copy()
                    )
                )
        return tiles


class History:
    """Undo and redo stacks of :class:`HistoryItem` under a memory cap (oldest items dropped first).

    The newest item is always kept, even when it alone exceeds the cap, so the last edit can be undone.
    """

    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        if max_bytes <= 0:
            raise ValueError("the history memory cap must be positive")
        self.max_bytes = int(max_bytes)
        self._undo: deque[HistoryItem] = deque()
        self._redo: list[HistoryItem] = []
        self._bytes = 0
        self.dropped = 0  # items dropped by the cap since creation

    @property
    def nbytes(self) -> int:
        return self._bytes

    @property
    def can_undo(self) -> bool:
        return bool(self._undo)

    @property
    def can_redo(self) -> bool:
        return bool(self._redo)

    @property
    def undo_actions(self) -> list[str]:
        return [item.action for item in self._undo]

    def push(self, item: HistoryItem) -> None:
        """A new edit: clears redo, then drops the oldest items while over the cap."""
        for old in self._redo:
            self._bytes -= old.nbytes
        self._redo.clear()
        self._undo.append(item)
        self._bytes += item.nbytes
        while self._bytes > self.max_bytes and len(self._undo) > 1:
            self._bytes -= self._undo.popleft().nbytes
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
        self._undo.clear()
        self._redo.clear()
        self._bytes = 0
