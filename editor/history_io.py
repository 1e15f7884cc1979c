"""Undo steps on disk, for crash recovery: history items <-> framed, checksummed records.

A record is ``b"P2HJ" | u32 length | u32 crc32 | payload``; the payload is a JSON head (what the
record is, the public fields of the history items it carries) followed by one zlib stream holding
the arrays the head lists (uint8 label and int32 instance crops). The same records make up the
autosave journal (one per committed edit, undo or redo, appended as they happen) and the
``history.bin`` member of recovery files (the last undo and redo steps).

Reading is defensive: a torn or damaged record ends the journal there (everything before it is
used), every array's size is checked against the document before anything is decompressed, every
rectangle must lie inside the document, and no failure is anything but a :class:`DocumentError`.

Only the public fields of :class:`~p2phd.editor.history.HistoryItem` are stored: ``action``, the
boxes of ``rects`` (the head's ``tiles``; each box's old/new label and instance values as 2-D arrays,
cut from the item's flat arrays and joined again on reading), ``styles`` with
``object_id``/``old``/``new``, and the item's bounding ``rect`` (checked on reading).
"""

from __future__ import annotations

import json
import struct
import threading
import weakref
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

import numpy as np
from p2phd.editor.errors import DocumentError
from p2phd.editor.geometry import EMPTY, Rect
from p2phd.editor.history import HistoryItem, StyleChange
from p2phd.editor.styles import Style, StyleTable, normalize_style
from p2phd.models.mapfiles.limits import MAX_SIDE

MAGIC = b"P2HJ"
_FRAME = struct.Struct("<4sII")
_HEAD_LEN = struct.Struct("<I")
HEAD_MAX_BYTES = 16 * 2**20
#: Raw array bytes one record may hold beyond the maps: the undo history's own memory cap ...
STEPS_MAX_BYTES = 256 * 2**20
#: ... and at most this many steps, each no larger than the document (10 bytes a pixel: old and new
#: label and instance values).
MAX_STEPS = 128
_DTYPES = {"u1": np.uint8, "u2": np.uint16, "i4": np.int32}  # u2: instance ids that fit (read back as int32)


@dataclass
class Record:
    op: str  # "base", "push", "undo", "redo", "patch" or "steps"
    head: dict
    arrays: list[np.ndarray]


# -- writing -------------------------------------------------------------------------------------------
def _style_json(style: Style | None) -> object:
    if style is None:
        return None
    if isinstance(style, np.ndarray):
        return [float(v) for v in style]
    return int(style)


def _item_head(item: HistoryItem, arrays: list[np.ndarray]) -> dict:
    """The item's JSON head; appends its arrays: per box, old/new label and old/new instance (2-D)."""
    tiles, start = [], 0
    flat = (item.old_label, item.new_label, item.old_inst, item.new_inst)
    for x0, y0, x1, y1 in item.rects.tolist():
        shape = (y1 - y0, x1 - x0)
        end = start + shape[0] * shape[1]
        tiles.append([x0, y0, x1, y1])
        arrays += [a[start:end].reshape(shape) for a in flat]
        start = end
    styles = [[int(c.object_id), _style_json(c.old), _style_json(c.new)] for c in item.styles]
    r = item.rect
    return {"action": str(item.action), "rect": [r.x0, r.y0, r.x1, r.y1], "tiles": tiles, "styles": styles}


def _compress(arrays: list[np.ndarray], level: int) -> tuple[list[list], bytes]:
    specs, raw = [], []
    for a in arrays:
        code = "u1" if a.dtype == np.uint8 else "i4"
        if code == "i4" and a.size and 0 <= int(a.min()) and int(a.max()) <= 0xFFFF:
            code = "u2"  # half the bytes to compress: instance maps always fit
        specs.append([code, *a.shape])
        raw.append(np.ascontiguousarray(a, dtype=_DTYPES[code]).tobytes())
    return specs, zlib.compress(b"".join(raw), level)


# Each history item is compressed once: journal records, base records and snapshots reuse the bytes
# for as long as the item lives (items never change once they are in the history).
_CACHE: dict[int, tuple] = {}
_CACHE_LOCK = threading.Lock()


def _forget(key: int, ref: weakref.ref) -> None:
    with _CACHE_LOCK:
        if key in _CACHE and _CACHE[key][0] is ref:
            del _CACHE[key]


def _remember(item: HistoryItem, head: dict, specs: list, comp: bytes) -> None:
    key = id(item)
    ref = weakref.ref(item, lambda r, key=key: _forget(key, r))
    with _CACHE_LOCK:
        _CACHE[key] = (ref, head, specs, comp)


def _encoded(item: HistoryItem, level: int) -> tuple[dict, list, bytes]:
    with _CACHE_LOCK:
        hit = _CACHE.get(id(item))
    if hit is not None and hit[0]() is item:
        return hit[1], hit[2], hit[3]
    arrays: list[np.ndarray] = []
    head = _item_head(item, arrays)
    specs, comp = _compress(arrays, level)
    _remember(item, head, specs, comp)
    return head, specs, comp


def record_bytes(op: str, head: dict | None = None, arrays=(), items=(), level: int = 1) -> bytes:
    """One framed record: ``head`` (JSON), ``arrays`` and the history ``items`` (in the head's ``items``).

    The data is one zlib stream ("chunk") for ``arrays``, then one per item."""
    head = dict(head or {}, op=op)
    specs, comp = _compress(list(arrays), level)
    chunks, blobs, heads = [[len(specs), len(comp)]], [comp], []
    for item in items:
        item_head, item_specs, item_comp = _encoded(item, level)
        heads.append(item_head)
        specs = specs + item_specs
        chunks.append([len(item_specs), len(item_comp)])
        blobs.append(item_comp)
    head.update(items=heads, arrays=specs, chunks=chunks)
    head_bytes = json.dumps(head, separators=(",", ":")).encode()
    payload = b"".join([_HEAD_LEN.pack(len(head_bytes)), head_bytes, *blobs])
    return _FRAME.pack(MAGIC, len(payload), zlib.crc32(payload)) + payload


# -- reading -------------------------------------------------------------------------------------------
def read_records(
    fh: BinaryIO, width: int | None, height: int | None, extra_bytes: int = STEPS_MAX_BYTES
) -> Iterator[Record]:
    """The records of a stream, in order, until its end or the first torn or damaged record.

    Without ``width``/``height`` the size comes from the first record, which must be a ``base``."""
    while True:
        frame = fh.read(_FRAME.size)
        if len(frame) < _FRAME.size:
            return
        magic, length, crc = _FRAME.unpack(frame)
        side = MAX_SIDE if width is None else max(width, height)
        if magic != MAGIC or length > 10 * side * side + extra_bytes + HEAD_MAX_BYTES:
            return
        payload = fh.read(length)
        if len(payload) < length or zlib.crc32(payload) != crc:
            return  # torn by a crash in the middle of a write, or damaged
        record = decode_payload(payload, width, height, extra_bytes)
        width, height = record.head["width"], record.head["height"]
        yield record


def decode_payload(payload: bytes, width: int | None, height: int | None, extra_bytes: int) -> Record:
    if len(payload) < _HEAD_LEN.size:
        raise DocumentError("recovery record: too short")
    (head_len,) = _HEAD_LEN.unpack_from(payload)
    if head_len > min(HEAD_MAX_BYTES, len(payload) - _HEAD_LEN.size):
        raise DocumentError("recovery record: bad head length")
    try:
        head = json.loads(payload[_HEAD_LEN.size : _HEAD_LEN.size + head_len])
    except (ValueError, RecursionError) as exc:
        raise DocumentError(f"recovery record: unreadable head ({str(exc)[:100]})") from None
    if not isinstance(head, dict) or not isinstance(head.get("op"), str):
        raise DocumentError("recovery record: the head is not an object with an 'op'")
    if width is None:
        width, height = head.get("width"), head.get("height")
        if head["op"] != "base" or not all(type(v) is int and 0 < v <= MAX_SIDE for v in (width, height)):
            raise DocumentError("recovery journal: it does not start with a base record of a valid size")
    head["width"], head["height"] = width, height
    raw_cap = 10 * width * height + min(extra_bytes, MAX_STEPS * 10 * width * height)
    if not isinstance(head.get("items", []), list) or len(head.get("items", [])) > MAX_STEPS:
        raise DocumentError(f"recovery record: more than {MAX_STEPS} steps")
    specs = head.get("arrays")
    if not isinstance(specs, list):
        raise DocumentError("recovery record: no array list")
    shapes, total = [], 0
    for spec in specs:
        if not (
            isinstance(spec, list)
            and len(spec) == 3
            and spec[0] in _DTYPES
            and all(type(n) is int and 0 <= n <= max(width, height) for n in spec[1:])
        ):
            raise DocumentError(f"recovery record: bad array spec {str(spec)[:60]}")
        dtype = np.dtype(_DTYPES[spec[0]])
        shapes.append((dtype, (spec[1], spec[2])))
        total += dtype.itemsize * spec[1] * spec[2]
    if total > raw_cap:
        raise DocumentError(f"recovery record: {total} bytes of arrays, more than this document can need")
    chunks = head.get("chunks")
    blob = memoryview(payload)[_HEAD_LEN.size + head_len :]
    if not (
        isinstance(chunks, list)
        and all(isinstance(c, list) and len(c) == 2 and all(type(v) is int and v >= 0 for v in c) for c in chunks)
        and sum(c[0] for c in chunks) == len(shapes)
        and sum(c[1] for c in chunks) == len(blob)
    ):
        raise DocumentError("recovery record: its data chunks do not match its arrays")
    arrays, blobs, first, offset = [], [], 0, 0
    for count, size in chunks:
        part = shapes[first : first + count]
        want = sum(dtype.itemsize * shape[0] * shape[1] for dtype, shape in part)
        comp = bytes(blob[offset : offset + size])
        decompressor = zlib.decompressobj()
        try:
            raw = decompressor.decompress(comp, want + 1)
        except zlib.error as exc:
            raise DocumentError(f"recovery record: damaged data ({exc})") from None
        if len(raw) != want or decompressor.unconsumed_tail or not decompressor.eof:
            raise DocumentError("recovery record: the data does not match its arrays")
        pos = 0
        for dtype, shape in part:
            n = dtype.itemsize * shape[0] * shape[1]
            array = np.frombuffer(raw, dtype, shape[0] * shape[1], pos).reshape(shape)
            arrays.append(array.astype(np.int32) if dtype == np.uint16 else array.copy())
            pos += n
        blobs.append(comp)
        first += count
        offset += size
    head["_chunks"] = blobs
    return Record(head["op"], head, arrays)


def _rect(value: object, width: int, height: int) -> Rect:
    if not (isinstance(value, list) and len(value) == 4 and all(type(v) is int for v in value)):
        raise DocumentError(f"recovery record: bad rectangle {str(value)[:60]}")
    rect = Rect(*value)
    if rect.empty:
        return EMPTY
    if rect.x0 < 0 or rect.y0 < 0 or rect.x1 > width or rect.y1 > height:
        raise DocumentError(f"recovery record: rectangle {value} outside the {width}x{height} document")
    return rect


def _style(value: object) -> Style | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, list)):
        raise DocumentError(f"recovery record: bad style {str(value)[:60]}")
    if isinstance(value, list) and not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
        raise DocumentError("recovery record: a style vector holds non-numbers")
    return normalize_style(value)


def items_of(record: Record, width: int, height: int, start: int = 0) -> list[HistoryItem]:
    """The history items a record carries (its arrays from index ``start`` on), checked."""
    heads = record.head.get("items")
    if not isinstance(heads, list):
        raise DocumentError("recovery record: no item list")
    arrays, pos, items = record.arrays, start, []
    for head in heads:
        if not isinstance(head, dict) or not isinstance(head.get("tiles"), list):
            raise DocumentError("recovery record: bad history item")
        rects: list[tuple[int, int, int, int]] = []
        parts: tuple[list[np.ndarray], ...] = ([], [], [], [])
        for value in head["tiles"]:
            rect = _rect(value, width, height)
            if pos + 4 > len(arrays):
                raise DocumentError("recovery record: a tile lacks its arrays")
            old_label, new_label, old_inst, new_inst = arrays[pos : pos + 4]
            pos += 4
            wanted = (rect.height, rect.width)
            if rect.empty or any(a.shape != wanted for a in (old_label, new_label, old_inst, new_inst)):
                raise DocumentError("recovery record: a tile's arrays do not match its rectangle")
            if old_label.dtype != np.uint8 or new_label.dtype != np.uint8 or old_inst.dtype != np.int32:
                raise DocumentError("recovery record: a tile's arrays have the wrong types")
            rects.append((rect.x0, rect.y0, rect.x1, rect.y1))
            for out, a in zip(parts, (old_label, new_label, old_inst, new_inst)):
                out.append(a.ravel())
        styles = []
        for change in head.get("styles") or []:
            if not (isinstance(change, list) and len(change) == 3 and type(change[0]) is int and change[0] >= 0):
                raise DocumentError("recovery record: bad style change")
            styles.append(StyleChange(change[0], _style(change[1]), _style(change[2])))
        action = head.get("action")
        _rect(head.get("rect"), width, height)  # checked; the item computes its own from the boxes
        item = HistoryItem(
            action if isinstance(action, str) else "edit",
            np.array(rects, np.int32).reshape(-1, 4),
            *(_concat(out, dtype) for out, dtype in zip(parts, (np.uint8, np.uint8, np.int32, np.int32))),
            styles,
        )
        items.append(item)
        blobs, chunks = record.head.get("_chunks") or [], record.head.get("chunks") or []
        n = len(items)
        if len(blobs) == len(heads) + 1 and chunks[0][0] == start and chunks[n][0] == 4 * len(rects):
            item_arrays: list[np.ndarray] = []  # the stored bytes are this item's: no need to compress again
            item_head = _item_head(item, item_arrays)
            specs = [list(spec) for spec in record.head["arrays"][pos - 4 * len(rects) : pos]]
            _remember(item, item_head, specs, blobs[n])
    if pos != len(arrays):
        raise DocumentError("recovery record: arrays left over")
    return items


def _concat(arrays: list[np.ndarray], dtype: type) -> np.ndarray:
    return np.concatenate(arrays).astype(dtype, copy=False) if arrays else np.zeros(0, dtype)


# -- replaying -----------------------------------------------------------------------------------------
@dataclass
class RecoveredState:
    """Maps, styles and undo/redo stacks rebuilt from a snapshot and the journal after it."""

    label: np.ndarray
    inst: np.ndarray
    styles: StyleTable
    undo: list[HistoryItem] = field(default_factory=list)
    redo: list[HistoryItem] = field(default_factory=list)  # the next step to redo last
    model_id: str | None = None
    time: float | None = None  # when the newest record was written (Unix time)
    records: int = 0
    source: str | None = None  # the file the work came from, if any

    @property
    def width(self) -> int:
        return self.label.shape[1]

    @property
    def height(self) -> int:
        return self.label.shape[0]

    def apply(self, record: Record, max_steps: int = 1000) -> None:
        """Replay one journal record."""
        w, h = self.width, self.height
        op = record.op
        if op == "base":
            if len(record.arrays) < 2:
                raise DocumentError("recovery journal: a base record of another size")
            label, inst = record.arrays[:2]
            if label.shape != (h, w) or inst.shape != (h, w) or label.dtype != np.uint8 or inst.dtype != np.int32:
                raise DocumentError("recovery journal: a base record with bad maps")
            self.label, self.inst = label.copy(), inst.copy()
            self.styles = _styles(record.head.get("styles"))
            self.undo, self.redo = _split(items_of(record, w, h, 2), record.head.get("redo_count"))
            model_id = record.head.get("model_id")
            self.model_id = model_id if isinstance(model_id, str) else None
        elif op in ("push", "undo", "redo"):
            (item,) = items_of(record, w, h)
            if op == "push":
                item.apply(self.label, self.inst, self.styles, True)
                self.undo.append(item)
                self.redo.clear()
            elif op == "undo":
                item.apply(self.label, self.inst, self.styles, False)
                if self.undo:
                    self.undo.pop()
                self.redo.append(item)
            else:
                item.apply(self.label, self.inst, self.styles, True)
                if self.redo:
                    self.redo.pop()
                self.undo.append(item)
            del self.undo[:-max_steps]
        elif op == "patch":
            rect = _rect(record.head.get("rect"), w, h)
            if len(record.arrays) != 2 or any(a.shape != (rect.height, rect.width) for a in record.arrays):
                raise DocumentError("recovery journal: a patch whose arrays do not match its rectangle")
            self.label[rect.slices] = record.arrays[0]
            self.inst[rect.slices] = record.arrays[1]
            self.styles = _styles(record.head.get("styles"))
        else:
            raise DocumentError(f"recovery journal: unknown record {op[:20]!r}")
        t = record.head.get("time")
        if isinstance(t, (int, float)) and not isinstance(t, bool):
            self.time = max(self.time or 0.0, float(t))
        self.records += 1

    def to_document(self):
        """A document in this state whose undo (and redo) stacks hold the recovered steps."""
        from p2phd.editor.document import Document

        label, inst, styles = self.label.copy(), self.inst.copy(), StyleTable(self.styles.as_mapping())
        for item in reversed(self.redo):  # the state after every redo step ...
            item.apply(label, inst, styles, True)
        doc = Document.from_arrays(label, inst, styles)
        doc.model_id = self.model_id
        for item in [*self.undo, *reversed(self.redo)]:
            doc.history.push(item)
        for _ in self.redo:  # ... and back: the redo steps are redoable again
            doc.undo()
        return doc


def _split(items: list[HistoryItem], redo_count: object) -> tuple[list[HistoryItem], list[HistoryItem]]:
    n = redo_count if type(redo_count) is int and 0 <= redo_count <= len(items) else 0
    return items[: len(items) - n], items[len(items) - n :]


def _styles(value: object) -> StyleTable:
    try:
        return StyleTable.from_json(value)
    except DocumentError:
        raise
    except (TypeError, ValueError, OverflowError) as exc:
        raise DocumentError(f"recovery journal: bad style table ({str(exc)[:100]})") from None


def steps_record(
    undo: list[HistoryItem], redo: list[HistoryItem], op: str = "steps", arrays=(), **head: object
) -> bytes:
    """A record holding ``arrays``, then undo steps (oldest first) and redo steps (next to redo last)."""
    return record_bytes(op, dict(head, redo_count=len(redo)), arrays=arrays, items=[*undo, *redo])


def read_steps(data: bytes, width: int, height: int) -> tuple[list[HistoryItem], list[HistoryItem]]:
    """The undo and redo steps of a ``history.bin`` member (a damaged one is a DocumentError)."""
    import io

    records = list(read_records(io.BytesIO(data), width, height))
    if len(records) == 1 and records[0].op != "steps":
        records = []
    if len(records) != 1 or records[0].op != "steps":
        raise DocumentError("history.bin is damaged")
    return _split(items_of(records[0], width, height), records[0].head.get("redo_count"))
