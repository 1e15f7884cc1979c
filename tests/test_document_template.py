"""The default template scene: a plausible street layout whose maps are valid."""

import numpy as np
from p2phd.editor.template import new_from_template
from p2phd.editor.validate import check_maps
from p2phd.models.labels import BY_NAME


def test_template_is_a_valid_street_scene():
    doc = new_from_template()
    assert (doc.width, doc.height) == (2048, 1024)
    assert check_maps(doc.label, doc.instance) == []
    present = set(np.unique(doc.label).tolist())
    for name in ("sky", "building", "sidewalk", "road", "vegetation", "pole", "traffic sign", "car"):
        assert BY_NAME[name].id in present, name
    assert doc.label[0, doc.width // 2] == BY_NAME["sky"].id  # sky on top
    assert doc.label[int(doc.height * 0.85), doc.width // 2] in (BY_NAME["road"].id, BY_NAME["car"].id)
    cars = doc.objects(instances_only=True)
    assert len(cars) >= 3 and all(c.label == 26 and c.area > 500 for c in cars)
    assert not doc.history.can_undo


def test_template_is_seeded_and_sizable():
    a, b = new_from_template(256, 128, seed=1), new_from_template(256, 128, seed=1)
    np.testing.assert_array_equal(a.instance, b.instance)
    assert not np.array_equal(a.label, new_from_template(256, 128, seed=2).label)


def test_template_uses_library_masks():
    diamond = np.zeros((20, 20), bool)
    for r in range(20):
        diamond[r, abs(10 - r) : 20 - abs(10 - r)] = True

    def nearest_car_aspect(library):
        doc = new_from_template(512, 256, seed=0, library=library)
        box = doc.object_bbox(doc.objects(instances_only=True)[-1].id)
        return box.height / box.width

    assert abs(nearest_car_aspect({26: [diamond]}) - 1.0) < 0.1  # the square library mask
    assert nearest_car_aspect(None) < 0.9  # the drawn car is wider than tall
