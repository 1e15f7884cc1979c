"""Every editing operation on small synthetic documents: values written, ids, and what is left untouched."""

import numpy as np
import pytest
from p2phd.editor.document import Document
from p2phd.editor.errors import DocumentError
from p2phd.editor.geometry import Rect
from p2phd.models.labels import class_of

ROAD, SIDEWALK, SKY, PERSON, CAR, BUILDING = 7, 8, 23, 24, 26, 11


@pytest.fixture
def doc():
    d = Document(64, 32, fill=ROAD)
    return d


def car_block(doc, x0, y0, x1, y1):
    """A rectangular car painted as a polygon; returns its id."""
    return doc.fill_polygon([(x0, y0), (x1 - 1, y0), (x1 - 1, y1 - 1), (x0, y1 - 1)], CAR)


def test_default_size_is_cityscapes():
    d = Document()
    assert d.label.shape == (1024, 2048) and d.label.dtype == np.uint8
    assert d.instance.dtype == np.int32


def test_maps_are_read_only(doc):
    with pytest.raises(ValueError):
        doc.label[0, 0] = 1
    with pytest.raises(ValueError):
        doc.instance[0, 0] = 1


def test_stroke_of_thing_class_gets_fresh_ids(doc):
    a = doc.paint_stroke([(10, 10), (20, 10)], CAR, 3)
    b = doc.paint_stroke([(40, 20)], CAR, 3)
    assert a == 26000 and b == 26001
    assert doc.label[10, 15] == CAR and doc.instance[10, 15] == a
    assert doc.instance[20, 40] == b
    # a circle of radius 3 around (40, 20): the corner of its box is not painted
    assert doc.instance[17, 37] == ROAD


def test_a_stroke_started_inside_an_object_of_its_class_extends_it(doc):
    a = doc.paint_stroke([(10, 10)], CAR, 3)
    # new_instance=True applies only to strokes started elsewhere (issue 12: no stray cars inside cars).
    same = doc.paint_stroke([(11, 10), (30, 10)], CAR, 2, new_instance=True)
    assert same == a and doc.instance[10, 30] == a and len(doc.objects(instances_only=True)) == 1
    elsewhere = doc.paint_stroke([(50, 25)], CAR, 2, new_instance=True)
    assert elsewhere != a
    person = doc.paint_stroke([(12, 10)], PERSON, 1)  # another class: a new object
    assert class_of(person) == PERSON


def test_new_instance_false_continues_the_newest_instance_of_the_class(doc):
    a = doc.paint_stroke([(10, 10)], CAR, 3)
    b = doc.paint_stroke([(50, 10)], CAR, 3)
    assert doc.paint_stroke([(30, 25)], CAR, 2, new_instance=False) == b != a
    assert class_of(doc.paint_stroke([(5, 28)], PERSON, 1, new_instance=False)) == PERSON  # none yet: fresh


def test_stuff_stroke_writes_class_id_and_preserve_limits_it(doc):
    doc.paint_stroke([(5, 5), (5, 25)], SIDEWALK, 2)
    doc.paint_stroke([(0, 15), (63, 15)], SKY, 1, preserve=SIDEWALK)
    assert doc.label[15, 5] == SKY and doc.instance[15, 5] == SKY
    assert doc.label[15, 30] == ROAD  # road was not the preserved label


def test_incremental_stroke_events_and_abort(doc):
    events = []
    doc.subscribe(events.append)
    stroke = doc.begin_stroke(CAR, 2)
    stroke.add_point(10, 10)
    stroke.add_point(20, 10)
    assert [e.committed for e in events] == [False, False]
    assert events[1].rect == Rect(8, 8, 23, 13)
    assert doc.editing
    stroke.abort()
    assert not doc.editing and events[-1].committed
    assert (doc.label == ROAD).all() and not doc.history.can_undo


def test_stroke_context_manager_commits_one_item(doc):
    with doc.begin_stroke(CAR, 2) as stroke:
        for x in range(5, 50, 3):
            stroke.add_point(x, 16)
    assert doc.history.undo_actions == ["stroke"]
    assert doc.object_area(stroke.object_id) > 0


def test_eraser_paints_fallback(doc):
    car = doc.paint_stroke([(20, 16)], CAR, 4)
    doc.erase_stroke([(20, 16)], 5, fallback=ROAD)
    assert doc.object_area(car) == 0 and doc.label[16, 20] == ROAD


def test_fill_is_contiguous_and_per_object(doc):
    doc.paint_stroke([(32, 0), (32, 31)], BUILDING, 1)  # a wall splitting the road
    doc.fill(5, 5, SIDEWALK)
    assert doc.label[5, 5] == SIDEWALK and doc.label[5, 60] == ROAD
    car = doc.fill(60, 5, CAR)
    assert car == 26000 and (doc.instance[:, 40:] == car).all()


def test_polygon_fill_and_pick(doc):
    oid = doc.fill_polygon([(10, 5), (30, 5), (20, 25)], PERSON)
    assert doc.pick(20, 10) == (PERSON, oid)
    assert doc.pick(1, 1) == (ROAD, ROAD)
    with pytest.raises(DocumentError):
        doc.pick(64, 0)


def test_relabel_to_thing_gets_fresh_id_and_keeps_style(doc):
    car = car_block(doc, 10, 10, 20, 20)
    doc.set_style(car, 4)
    person = doc.relabel_object(car, PERSON)
    assert person == 24000 and doc.object_area(car) == 0
    assert doc.object_area(person) == 100 and (doc.label[10:20, 10:20] == PERSON).all()
    assert doc.styles.get(person) == 4 and doc.styles.get(car) is None


def test_relabel_to_stuff_writes_class_id(doc):
    car = car_block(doc, 10, 10, 20, 20)
    assert doc.relabel_object(car, SIDEWALK) == SIDEWALK
    assert (doc.instance[10:20, 10:20] == SIDEWALK).all()


def test_remove_fills_from_neighbours_and_touches_nothing_else(doc):
    doc.fill_polygon([(0, 0), (63, 0), (63, 9), (0, 9)], SKY)  # sky on top, road below
    car = car_block(doc, 20, 6, 30, 20)  # straddles sky and road
    doc.set_style(car, 2)
    before_label, before_inst = doc.label.copy(), doc.instance.copy()
    doc.remove_object(car)
    assert not (doc.instance == car).any() and car not in doc.styles
    hole = before_inst == car
    assert (doc.label[~hole] == before_label[~hole]).all() and (doc.instance[~hole] == before_inst[~hole]).all()
    # nearest surroundings: the top rows take sky, the bottom rows road
    assert (doc.label[6:8, 20:30] == SKY).all() and (doc.label[12:20, 20:30] == ROAD).all()
    assert (doc.instance[hole] == doc.label[hole]).all()


def test_remove_unknown_object_is_a_clear_error(doc):
    with pytest.raises(DocumentError, match="no object 26005"):
        doc.remove_object(26005)


def test_move_object(doc):
    car = car_block(doc, 10, 10, 20, 20)
    doc.move_object(car, 5, -3)
    assert doc.object_bbox(car) == Rect(15, 7, 25, 17) and doc.object_area(car) == 100
    assert (doc.label[17:20, 10:15] == ROAD).all()


def test_move_out_of_image_removes(doc):
    car = car_block(doc, 10, 10, 20, 20)
    doc.move_object(car, 100, 0)
    assert doc.object_area(car) == 0 and (doc.label == ROAD).all()


def test_duplicate_object_new_id_same_style(doc):
    car = car_block(doc, 10, 10, 20, 20)
    doc.set_style(car, 1)
    copy = doc.duplicate_object(car, 30, 0)
    assert copy != car and copy // 1000 == CAR
    assert doc.object_area(copy) == 100 and doc.object_area(car) == 100
    assert doc.styles.get(copy) == 1
    with pytest.raises(DocumentError):
        doc.duplicate_object(car, 0, 0)
    with pytest.raises(DocumentError):
        doc.duplicate_object(car, 500, 0)
    assert doc.object_area(car) == 100  # the failed duplicate left nothing behind


def test_insert_object_scale_flip_style(doc):
    mask = np.zeros((4, 6), bool)
    mask[:, :2] = True  # left third
    oid = doc.insert_object(mask, CAR, 10, 10, style=np.ones(3), scale=2.0, flip=True)
    assert oid == 26000 and doc.object_bbox(oid) == Rect(18, 10, 22, 18)
    np.testing.assert_array_equal(doc.styles.get(oid), np.ones(3, np.float32))
    clipped = doc.insert_object(np.ones((10, 10), bool), CAR, 60, 28)
    assert doc.object_area(clipped) == 4 * 4
    with pytest.raises(DocumentError):
        doc.insert_object(np.ones((3, 3), bool), CAR, 100, 100)
    with pytest.raises(DocumentError):
        doc.insert_object(np.zeros((3, 3), bool), CAR, 0, 0)


def test_objects_listing(doc):
    car = car_block(doc, 10, 10, 20, 20)
    infos = {o.id: o for o in doc.objects()}
    assert infos[car].label == CAR and infos[car].area == 100 and infos[car].name == "car"
    assert infos[ROAD].area == 64 * 32 - 100
    assert [o.id for o in doc.objects(instances_only=True)] == [car]


def test_fresh_id_skips_ids_with_styles_and_fills_gaps_at_the_top(doc):
    doc.set_style(26000, 3)  # a style left for an id not in the map: do not inherit it
    assert doc.new_instance_id(CAR) == 26001
    with pytest.raises(DocumentError):
        doc.new_instance_id(ROAD)


def test_bad_arguments_are_clear_errors(doc):
    with pytest.raises(DocumentError):
        doc.paint_stroke([], CAR, 3)
    with pytest.raises(DocumentError):
        doc.paint_stroke([(1, 1)], 99, 3)
    with pytest.raises(DocumentError):
        doc.paint_stroke([(1, 1)], CAR, -1)
    with pytest.raises(DocumentError):
        doc.fill_polygon([(1, 1), (2, 2)], CAR)
    stroke = doc.begin_stroke(CAR, 2)
    with pytest.raises(DocumentError, match="in progress"):
        doc.undo()
    stroke.abort()


def test_bad_document_size():
    with pytest.raises(DocumentError):
        Document(0, 10)
    with pytest.raises(DocumentError):
        Document(10, 10, fill=77)


def test_fresh_instance_ids_are_one_past_the_largest_in_use_or_the_first_gap():
    from p2phd.editor.objects import MAX_INSTANCES_PER_CLASS, fresh_instance_id

    rng = np.random.default_rng(3)
    inst = rng.choice([7, 11, 24005, 24017, 26000, 26002, 33001], size=(101, 67)).astype(np.int32)
    inst[100, 66] = 26031  # in the last, partial band of rows
    assert fresh_instance_id(inst, 26) == 26032
    assert fresh_instance_id(inst, 24) == 24018 and fresh_instance_id(inst, 24, taken=[24040]) == 24041
    assert fresh_instance_id(inst, 25) == 25000
    full = np.arange(26000, 26000 + MAX_INSTANCES_PER_CLASS, dtype=np.int32).reshape(-1, 8)
    full[7, 3] = 7  # one id free in a full class: the gap is used
    assert fresh_instance_id(full, 26) == 26059
