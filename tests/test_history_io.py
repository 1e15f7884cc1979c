"""Undo steps on disk (editor/history_io.py): exact round trips of every kind of step, compressed
bytes reused across records, and hostile records refused with bounded memory."""

import io
import json
import struct
import tracemalloc
import zlib

import numpy as np
import pytest
from p2phd.editor import history_io
from p2phd.editor.document import Document
from p2phd.editor.errors import DocumentError


def session() -> Document:
    doc = Document(96, 48, fill=7)
    car = doc.paint_stroke([(10, 10), (40, 12)], 26, 4)
    doc.set_vector(car, [0.25, -1.5, 3.0])
    doc.set_style(24000, 2)
    doc.paint_stroke([(70, 30)], 24, 5)
    doc.fill(1, 40, 8)
    doc.move_object(car, 5, 3)
    doc.undo()
    return doc


def test_steps_round_trip_exactly():
    doc = session()
    undo, redo = doc.history.undo_items, doc.history.redo_items
    data = history_io.steps_record(undo, redo)
    back_undo, back_redo = history_io.read_steps(data, doc.width, doc.height)
    assert [i.action for i in back_undo] == doc.history.undo_actions and len(back_redo) == 1
    for a, b in zip(undo + redo, back_undo + back_redo):
        assert a.rect == b.rect and np.array_equal(a.rects, b.rects) and len(a.styles) == len(b.styles)
        assert a.rects.dtype == b.rects.dtype == np.int32
        for name in ("old_label", "new_label", "old_inst", "new_inst"):
            x, y = getattr(a, name), getattr(b, name)
            assert x.dtype == y.dtype and np.array_equal(x, y)
        for sa, sb in zip(a.styles, b.styles):
            assert sa.object_id == sb.object_id
            for x, y in ((sa.old, sb.old), (sa.new, sb.new)):
                assert (x is None and y is None) or np.array_equal(np.asarray(x), np.asarray(y))


def test_each_item_is_compressed_once():
    doc = session()
    item = doc.history.undo_items[-1]
    first = history_io._encoded(item, 1)
    assert history_io._encoded(item, 1)[2] is first[2]
    data = history_io.steps_record(doc.history.undo_items, [])
    (back,), _ = history_io.read_steps(history_io.steps_record([item], []), doc.width, doc.height)
    assert history_io._encoded(back, 1)[2] == first[2]  # primed from the stored bytes
    assert len(data) > 0


EMPTY = zlib.compress(b"")


def frame(head: dict, blob: bytes) -> bytes:
    head_bytes = json.dumps(head).encode()
    payload = struct.pack("<I", len(head_bytes)) + head_bytes + blob
    return b"P2HJ" + struct.pack("<II", len(payload), zlib.crc32(payload)) + payload


@pytest.mark.parametrize(
    "head, blob, match",
    [
        ({"op": "steps", "arrays": [["f8", 2, 2]], "chunks": [[1, 0]]}, b"", "bad array spec"),
        ({"op": "steps", "arrays": [["u1", 10**6, 2]], "chunks": [[1, 0]]}, b"", "bad array spec"),
        ({"op": "steps", "arrays": [["u1", 2, 2]], "chunks": [[1, 5]]}, b"", "chunks"),
        ({"op": "steps", "arrays": [["u1", 2, 2]], "chunks": [[1, 3]]}, b"abc", "damaged data"),
        ({"op": "steps", "arrays": [["u1", 2, 2]], "chunks": [[1, 11]]}, zlib.compress(bytes(5)), "does not match"),
        ({"op": "steps", "arrays": [], "chunks": [[0, 8]], "items": [{"tiles": [[0, 0, 5, 5]]}]}, EMPTY, "lacks"),
        (
            {"op": "steps", "arrays": [], "chunks": [[0, 8]], "items": [{"tiles": [], "rect": [0, 0, 500, 1]}]},
            EMPTY,
            "outside",
        ),
    ],
)
def test_hostile_records(head, blob, match):
    head.setdefault("items", [])
    with pytest.raises(DocumentError, match=match):
        history_io.read_steps(frame(head, blob), 96, 48)


def test_too_many_steps():
    head = {"op": "steps", "arrays": [], "chunks": [[0, 8]], "items": [{"tiles": []}] * 500}
    with pytest.raises(DocumentError, match="more than 128 steps"):
        history_io.read_steps(frame(head, EMPTY), 96, 48)


def test_a_record_bomb_is_refused_before_decompressing():
    bomb = zlib.compress(bytes(64 * 2**20), 9)  # 64 MiB of zeros in ~64 KB
    head = {"op": "steps", "items": [], "arrays": [["u1", 48, 96]] * 20000, "chunks": [[20000, len(bomb)]]}
    tracemalloc.start()
    try:
        with pytest.raises(DocumentError, match="more than this document can need"):
            history_io.read_steps(frame(head, bomb), 96, 48)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 * 2**20


def test_torn_records_end_the_stream():
    doc = session()
    data = b"".join(history_io.record_bytes("push", {}, items=[i]) for i in doc.history.undo_items)
    for cut in (len(data) - 1, len(data) // 2, 5):
        records = list(history_io.read_records(io.BytesIO(data[:cut]), doc.width, doc.height))
        assert len(records) < len(doc.history.undo_items)
