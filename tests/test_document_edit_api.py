"""The public edit API (issue 9): edit sessions, nested edits as one undo step, events, saved state."""

import numpy as np
import pytest
from p2phd.editor.document import Document
from p2phd.editor.errors import DocumentError
from p2phd.editor.geometry import Rect

ROAD, SIDEWALK, SKY, CAR = 7, 8, 23, 26


@pytest.fixture
def doc():
    return Document(64, 32, fill=ROAD)


def test_an_edit_session_writes_records_and_announces(doc):
    events = []
    doc.subscribe(events.append)
    with doc.edit("my tool") as e:
        e.write(Rect(2, 3, 6, 5), np.ones((2, 4), bool), SKY, SKY)
        e.show(Rect(2, 3, 6, 5))
    assert (doc.label[3:5, 2:6] == SKY).all() and doc.label[0, 0] == ROAD
    assert doc.history.undo_actions == ["my tool"]
    assert [(ev.committed, ev.action) for ev in events] == [(False, "my tool"), (True, "my tool")]
    assert events[-1].rect == Rect(2, 3, 6, 5)
    doc.undo()
    assert (doc.label == ROAD).all()


def test_per_pixel_values_and_bad_writes(doc):
    mask = np.zeros((2, 3), bool)
    mask[0, 1] = mask[1, 2] = True
    with doc.edit("values") as e:
        e.write(Rect(10, 10, 13, 12), mask, np.array([SKY, SIDEWALK], np.uint8), np.array([SKY, SIDEWALK]))
    assert doc.label[10, 11] == SKY and doc.label[11, 12] == SIDEWALK and doc.label[10, 10] == ROAD
    with pytest.raises(DocumentError, match="not inside"), doc.edit("outside") as e:
        e.write(Rect(60, 0, 70, 2), np.ones((2, 10), bool), SKY, SKY)
    with pytest.raises(DocumentError, match="does not fit"), doc.edit("shape") as e:
        e.write(Rect(0, 0, 4, 4), np.ones((3, 3), bool), SKY, SKY)
    assert doc.history.undo_actions == ["values"]  # the failed edits left nothing behind
    with pytest.raises(DocumentError, match="finished"):
        e.write(Rect(0, 0, 1, 1), np.ones((1, 1), bool), SKY, SKY)


def test_several_operations_are_one_undo_step(doc):
    car = doc.paint_stroke([(10, 10)], CAR, 3)
    before = doc.label.copy(), doc.instance.copy(), doc.styles.as_mapping()
    with doc.edit("appearance from photo"):
        doc.set_style(car, 4)
        doc.fill(40, 20, SIDEWALK)
        other = doc.paint_stroke([(50, 5)], CAR, 2)
        doc.set_style(other, 1)
    assert doc.history.undo_actions[-1] == "appearance from photo" and len(doc.history.undo_actions) == 2
    assert doc.styles.get(car) == 4 and doc.styles.get(other) == 1
    doc.undo()
    np.testing.assert_array_equal(doc.label, before[0])
    np.testing.assert_array_equal(doc.instance, before[1])
    assert doc.styles.as_mapping() == before[2]
    doc.redo()
    assert doc.styles.get(other) == 1 and (doc.label == SIDEWALK).any()


def test_a_failing_nested_operation_rolls_back_alone(doc):
    car = doc.paint_stroke([(10, 10)], CAR, 3)
    with doc.edit("batch"):
        doc.set_style(car, 2)
        doc.fill(40, 20, SKY)
        with pytest.raises(DocumentError):
            with doc.edit("nested"):
                doc.paint_stroke([(30, 5)], SIDEWALK, 2)
                doc.set_style(car, 7)
                raise DocumentError("a later step failed")
        assert doc.styles.get(car) == 2 and not (doc.label == SIDEWALK).any()
    assert doc.history.undo_actions == ["stroke", "batch"]
    assert doc.styles.get(car) == 2 and (doc.label == SKY).any()


def test_an_exception_in_the_outer_edit_rolls_everything_back(doc):
    before = doc.label.copy()
    with pytest.raises(RuntimeError):
        with doc.edit("batch"):
            doc.fill(0, 0, SKY)
            doc.set_style(26000, 3)
            raise RuntimeError("boom")
    np.testing.assert_array_equal(doc.label, before)
    assert len(doc.styles) == 0 and not doc.history.can_undo and not doc.editing


def test_modified_follows_undo_back_to_the_saved_state(doc, tmp_path):
    assert not doc.is_modified
    doc.paint_stroke([(10, 10)], CAR, 3)
    assert doc.is_modified
    doc.save(tmp_path / "l.png", tmp_path / "i.png")
    assert not doc.is_modified and not doc.modified
    doc.fill(40, 20, SKY)
    assert doc.is_modified
    doc.undo()
    assert not doc.is_modified  # back at the saved state: no '*'
    doc.undo()
    assert doc.is_modified  # before the saved state
    doc.redo()
    assert not doc.is_modified
    doc.set_style(26000, 1)
    doc.undo()
    doc.fill(0, 0, SIDEWALK)  # a new branch: the saved state cannot come back by redo
    doc.undo()
    assert not doc.is_modified
    stroke = doc.begin_stroke(CAR, 2)
    stroke.add_point(30, 10)
    assert doc.is_modified  # pixels of the open stroke differ
    stroke.abort()
    assert not doc.is_modified


def test_saved_state_dropped_by_the_memory_cap_stays_modified():
    doc = Document(64, 64, fill=ROAD, history_bytes=30_000)
    doc.mark_saved()
    for i in range(20):
        doc.paint_stroke([(0, i * 3), (63, i * 3)], CAR if i % 2 else SKY, 1)
    assert doc.history.dropped > 0
    while doc.undo():
        pass
    assert doc.is_modified  # the oldest steps are gone: this is not the saved document


def test_object_at_and_check_xy(doc):
    car = doc.paint_stroke([(10, 10)], CAR, 3)
    assert doc.object_at(10, 10) == car and doc.object_at(40, 5) == ROAD
    assert doc.pick(10, 10) == (CAR, car)
    for bad in ((64, 0), (-1, 0), (0, 10**30), ("a", 1)):
        with pytest.raises(DocumentError):
            doc.object_at(*bad)


def test_a_nested_edit_cannot_write_after_its_group_ended(doc):
    group = doc.edit("group")
    stroke = doc.begin_stroke(CAR, 2)
    stroke.add_point(10, 10)
    group.commit()
    with pytest.raises(DocumentError, match="outlived"):
        stroke.add_point(20, 10)
    assert doc.history.undo_actions == ["group"] and not doc.editing
