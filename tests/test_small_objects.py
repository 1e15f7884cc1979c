"""Stray small objects (issue 12): listed by the label-sanity warnings, merged into the object around
them in one undoable step; a click inside an object of the same class no longer makes one."""

import numpy as np
import pytest
from p2phd.editor.document import Document
from p2phd.editor.errors import DocumentError
from p2phd.editor.objects import small_object_area

ROAD, SIDEWALK, CAR, PERSON = 7, 8, 26, 24


def maps_with_a_stray_car():
    label = np.full((64, 128), ROAD, np.uint8)
    inst = label.astype(np.int32)
    label[10:50, 10:80], inst[10:50, 10:80] = CAR, 26000  # a big car
    label[20:23, 30:33], inst[20:23, 30:33] = CAR, 26005  # a 9 px car inside it (a stray click)
    label[40:42, 100:102], inst[40:42, 100:102] = PERSON, 24000  # small, but on the road: fine
    return label, inst


def test_a_click_inside_a_car_extends_it_instead_of_making_a_new_car():
    doc = Document(128, 64, fill=ROAD)
    car = doc.fill_polygon([(10, 10), (79, 10), (79, 49), (10, 49)], CAR)
    assert doc.paint_stroke([(40, 30)], CAR, 3) == car
    assert [o.id for o in doc.objects(instances_only=True)] == [car] and doc.small_objects() == []


def test_warnings_list_small_objects_inside_another_object():
    doc = Document.from_arrays(*maps_with_a_stray_car())
    assert len(doc.warnings) == 1
    assert "26005 (9 px) in 26000" in doc.warnings[0] and "24000" not in doc.warnings[0]
    assert doc.small_objects() == [(26005, 9, 26000)]
    assert small_object_area(2048, 1024) == 512


def test_merge_into_the_surrounding_object_is_one_undo_step():
    doc = Document.from_arrays(*maps_with_a_stray_car())
    doc.set_style(26005, 3)
    before = doc.label.copy(), doc.instance.copy()
    assert doc.merge_object(26005) == 26000
    assert doc.object_area(26005) == 0 and doc.object_area(26000) == 40 * 70
    assert doc.styles.get(26005) is None and doc.history.undo_actions[-1] == "merge"
    doc.undo()
    np.testing.assert_array_equal(doc.instance, before[1])
    assert doc.styles.get(26005) == 3


def test_merge_takes_the_class_of_the_target_and_checks_arguments():
    doc = Document.from_arrays(*maps_with_a_stray_car())
    assert doc.merge_object(24000) == ROAD  # into the road around it: stuff pixels hold the class id
    assert (doc.label[40:42, 100:102] == ROAD).all() and (doc.instance[40:42, 100:102] == ROAD).all()
    with pytest.raises(DocumentError):
        doc.merge_object(26005, into=26005)
    with pytest.raises(DocumentError):
        doc.merge_object(26099)
    with pytest.raises(DocumentError):
        doc.merge_object(26005, into=26042)


def test_merge_small_objects_at_once():
    label, inst = maps_with_a_stray_car()
    label[40:43, 60:63], inst[40:43, 60:63] = CAR, 26007
    doc = Document.from_arrays(label, inst)
    assert doc.merge_small_objects() == [26005, 26007]
    assert doc.small_objects() == [] and doc.history.undo_actions == ["merge small objects"]
    doc.undo()
    assert len(doc.small_objects()) == 2
