"""Bounded undo memory (issue 13 item 3): an open stroke keeps one copy of each touched tile, and the
history's byte count matches what its items really occupy. Measured as stored bytes, not time."""

import tracemalloc

import numpy as np
from p2phd.editor.document import Document
from p2phd.editor.history import TILE, HistoryItem

ROAD, SIDEWALK, BUILDING, CAR = 7, 8, 11, 26
MB = 2**20


def test_a_long_scribble_with_the_largest_brush_stays_bounded():
    """400 mouse moves over the whole 2048x1024 document with the GUI's largest brush (radius 256)."""
    doc = Document(2048, 1024, fill=ROAD)
    whole = doc.width * doc.height * (1 + 4)  # one copy of uint8 label + int32 instance
    rng = np.random.default_rng(0)
    sizes = []
    with doc.begin_stroke(CAR, 256) as stroke:
        for _ in range(400):
            stroke.add_point(*rng.uniform((0, 0), (doc.width, doc.height)))
            sizes.append(doc.pending_undo_bytes)
    assert max(sizes) <= whole  # never more than one copy of the document, however many dabs
    assert sizes[-1] == sizes[200]  # after covering the document, more moves add nothing
    item_bytes = doc.history.nbytes
    assert item_bytes <= 2 * whole + MB  # old + new values of the changed pixels
    assert max(sizes) + item_bytes < 50 * MB


def test_open_stroke_undo_data_follows_the_touched_area_not_the_number_of_dabs():
    doc = Document(512, 256, fill=ROAD)
    with doc.begin_stroke(CAR, 10) as stroke:
        for i in range(300):  # back and forth over the same short line
            stroke.add_point(100 + (i % 2) * 40, 100)
        held = doc.pending_undo_bytes
    tiles = {(ty, tx) for ty in range(90 // TILE, 110 // TILE + 1) for tx in range(90 // TILE, 150 // TILE + 1)}
    assert held <= len(tiles) * TILE * TILE * 5


def real_and_counted_bytes(doc, edits):
    """(bytes really allocated, bytes the history counts) while ``edits()`` runs."""
    tracemalloc.start()
    try:
        start, counted = tracemalloc.get_traced_memory()[0], doc.history.nbytes
        edits()
        real = tracemalloc.get_traced_memory()[0] - start
    finally:
        tracemalloc.stop()
    return real, doc.history.nbytes - counted


def test_accounting_matches_real_memory_for_many_one_pixel_edits():
    doc = Document(256, 128, fill=ROAD)

    def edits():
        for i in range(600):
            doc.paint_stroke([(i % 256, (i // 256) * 7)], SIDEWALK if i % 2 else BUILDING, 0)

    real, counted = real_and_counted_bytes(doc, edits)
    assert len(doc.history.undo_actions) == 600
    assert counted / 1.5 <= real <= counted * 1.5, (real, counted)


def test_accounting_matches_real_memory_for_large_edits():
    doc = Document(512, 256, fill=ROAD)

    def edits():
        for i in range(6):
            doc.paint_stroke([(0, 40 * i), (511, 40 * i + 30)], CAR, 20)

    real, counted = real_and_counted_bytes(doc, edits)
    assert counted / 1.5 <= real <= counted * 1.5, (real, counted)


def test_history_items_are_plain_arrays():
    """The layout recovery files rely on: rects (n, 4) and flat old/new label/instance values."""
    doc = Document(128, 64, fill=ROAD)
    doc.paint_stroke([(10, 10), (100, 50)], CAR, 5)
    (item,) = doc.history.undo_items
    assert item.rects.dtype == np.int32 and item.rects.shape[1] == 4
    areas = (item.rects[:, 2] - item.rects[:, 0]) * (item.rects[:, 3] - item.rects[:, 1])
    assert item.old_label.dtype == np.uint8 and item.old_inst.dtype == np.int32
    assert item.old_label.shape == item.new_label.shape == item.new_inst.shape == (int(areas.sum()),)
    copy = HistoryItem(item.action, item.rects, item.old_label, item.new_label, item.old_inst, item.new_inst)
    label, inst = doc.label.copy(), doc.instance.copy()
    copy.apply(label, inst, doc.styles, forward=False)
    assert (label == ROAD).all() and (inst == ROAD).all()
