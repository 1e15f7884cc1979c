"""Delta undo/redo: exact restoration, one item per command, redo cleared, memory cap, small deltas."""

import numpy as np
import pytest
from p2phd.editor.document import Document
from p2phd.editor.history import History, HistoryItem
from p2phd.editor.template import new_from_template

ROAD, SKY, CAR, PERSON = 7, 23, 26, 24


def state(doc):
    return doc.label.copy(), doc.instance.copy(), doc.styles.as_mapping()


def assert_same(a, b):
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert a[2].keys() == b[2].keys()
    for k in a[2]:
        np.testing.assert_array_equal(a[2][k], b[2][k])


def edit_everything(doc):
    """One of each operation; returns the states after each step."""
    rng = np.random.default_rng(0)
    states = [state(doc)]
    car = doc.paint_stroke(rng.integers(0, 96, size=(12, 2)), CAR, 4)
    states.append(state(doc))
    steps = [
        lambda: doc.set_style(car, 2),
        lambda: doc.set_vector(car, [0.5, -1.0, 2.0]),
        lambda: doc.fill(0, 0, SKY),
        lambda: doc.fill_polygon([(5, 5), (40, 8), (20, 40)], PERSON),
        lambda: doc.move_object(car, 7, -4),
        lambda: doc.duplicate_object(car, -20, 10),
        lambda: doc.relabel_object(car, PERSON),
        lambda: doc.insert_object(np.ones((9, 5), bool), CAR, 50, 50, style=3, flip=True),
        lambda: doc.remove_object(24000),
        lambda: doc.erase_stroke([(0, 0), (90, 60)], 3, fallback=ROAD),
        lambda: doc.randomize_style(CAR * 1000 + 1, 5, seed=1),
        lambda: doc.interpolate_style(CAR * 1000 + 1, 0, 1, 0.25, {CAR: np.eye(3, dtype=np.float32)}),
    ]
    for step in steps:
        step()
        states.append(state(doc))
    return states


def test_undo_redo_restore_every_state_exactly():
    doc = Document(96, 64, fill=ROAD)
    states = edit_everything(doc)
    assert len(doc.history.undo_actions) == len(states) - 1  # one item per command
    for expected in reversed(states[:-1]):
        assert doc.undo()
        assert_same(state(doc), expected)
    assert not doc.undo()
    for expected in states[1:]:
        assert doc.redo()
        assert_same(state(doc), expected)
    assert not doc.redo()


def test_an_item_keeps_the_tight_box_of_each_changed_tile_in_row_major_order():
    """150 x 100: full 64 x 64 tiles and the three shapes of edge tiles are diffed together."""
    doc = Document(150, 100, fill=ROAD)
    before = doc.label.copy()
    doc.paint_stroke([(3, 90), (80, 60), (148, 5)], SKY, 3)
    (item,) = doc.history.undo_items
    after = doc.label.copy()
    expected = []
    for y0 in range(0, 100, 64):
        for x0 in range(0, 150, 64):
            diff = before[y0 : y0 + 64, x0 : x0 + 64] != after[y0 : y0 + 64, x0 : x0 + 64]
            rows, cols = np.flatnonzero(diff.any(1)), np.flatnonzero(diff.any(0))
            if len(rows):
                expected.append([x0 + cols[0], y0 + rows[0], x0 + cols[-1] + 1, y0 + rows[-1] + 1])
    assert item.rects.tolist() == expected and len(expected) >= 4
    assert item.old_label.size == sum((x1 - x0) * (y1 - y0) for x0, y0, x1, y1 in expected)
    assert (item.old_label == ROAD).all() and (item.new_label[item.new_label != ROAD] == SKY).all()
    assert doc.undo() and np.array_equal(doc.label, before)


def test_new_edit_clears_redo():
    doc = Document(32, 32, fill=ROAD)
    doc.paint_stroke([(5, 5)], CAR, 2)
    doc.undo()
    assert doc.history.can_redo
    doc.paint_stroke([(20, 20)], SKY, 2)
    assert not doc.history.can_redo and doc.history.undo_actions == ["stroke"]


def test_undo_emits_events_and_bumps_revision():
    doc = Document(32, 32, fill=ROAD)
    car = doc.paint_stroke([(10, 10)], CAR, 2)
    events = []
    doc.subscribe(events.append)
    rev = doc.revision
    doc.undo()
    assert events[-1].kind == "pixels" and events[-1].committed and events[-1].action == "undo stroke"
    assert events[-1].rect.x0 <= 8 and events[-1].rect.x1 >= 13 and doc.revision > rev
    doc.redo()
    doc.set_style(car, 1)
    assert events[-1].kind == "styles" and events[-1].object_ids == (car,)


def test_memory_cap_drops_oldest():
    doc = Document(128, 64, fill=ROAD, history_bytes=8_000)
    for i in range(10):
        doc.paint_stroke([(i * 12 + 5, 30)], SKY if i % 2 else CAR, 6)
        assert doc.history.nbytes <= 8_000 or len(doc.history.undo_actions) == 1
    assert doc.history.dropped > 0
    kept = len(doc.history.undo_actions)
    assert 1 <= kept < 10
    for _ in range(kept):
        assert doc.undo()
    assert not doc.undo()
    assert doc.label[30, 5] == CAR  # the oldest strokes can no longer be undone


def test_history_keeps_the_newest_item_even_over_the_cap():
    history = History(max_bytes=10)
    history.push(HistoryItem("a"))
    history.push(HistoryItem("b"))
    assert history.undo_actions == ["b"]


def test_stroke_delta_is_small_on_a_full_size_document():
    doc = new_from_template(seed=0)
    points = [(1000 + 10 * i, 500 + (i % 7)) for i in range(20)]
    doc.paint_stroke(points, SKY, 8)
    # 200 x 20 pixels changed: the item keeps tiles around them, not the 2048x1024 image
    assert doc.history.nbytes < 200_000
    before = doc.label.copy()
    doc.undo()
    doc.redo()
    np.testing.assert_array_equal(doc.label, before)


def test_failed_command_rolls_back():
    doc = Document(32, 32, fill=ROAD)
    car = doc.paint_stroke([(10, 10)], CAR, 2)
    before = state(doc)
    with pytest.raises(ValueError):
        doc.duplicate_object(car, 100, 100)
    assert_same(state(doc), before)
    assert doc.history.undo_actions == ["stroke"]


def test_a_fresh_instance_id_is_remembered_until_the_next_change(monkeypatch):
    """Finding one scans the whole map; a GUI asks ahead of the press, the press gets the same answer,
    and any change (pixels, styles, undo) makes the next question scan again."""
    from p2phd.editor import objects

    scans = []
    scan = objects.fresh_instance_id
    monkeypatch.setattr(objects, "fresh_instance_id", lambda *a: scans.append(1) or scan(*a))
    doc = Document(64, 32, fill=ROAD)

    def fresh() -> int:
        found = doc.new_instance_id(CAR)
        assert found == scan(doc.instance, CAR, doc.styles)  # never stale
        return found

    assert fresh() == fresh() == CAR * 1000 and len(scans) == 1
    assert doc.paint_stroke([(10, 10)], CAR, 3) == CAR * 1000  # the press used the remembered id
    assert len(scans) == 1
    assert fresh() == CAR * 1000 + 1 and len(scans) == 2
    doc.set_style(CAR * 1000 + 1, 2)  # a style for an id not painted yet: that id is taken now
    assert fresh() == CAR * 1000 + 2
    doc.undo()  # the style goes: the id is free again
    assert fresh() == CAR * 1000 + 1
    doc.undo()  # the first car goes too
    assert fresh() == CAR * 1000 and fresh() == CAR * 1000 and len(scans) == 5
