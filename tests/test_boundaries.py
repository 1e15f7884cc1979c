"""The label view's instance boundaries (editor core, numpy): NVIDIA's 4-neighbour edges, per rectangle,
and the document's saved state (the title's ``*``) following undo and redo."""

import numpy as np
import pytest
from p2phd.editor.boundaries import instance_edges, object_outline, thicken
from p2phd.editor.document import Document
from p2phd.editor.geometry import Rect


def random_instances(seed=0, h=40, w=64):
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 5, size=(h // 4, w // 4)) * 1000 + 26000
    return np.kron(coarse, np.ones((4, 4), np.int64)).astype(np.int32)


def test_edges_match_the_networks_edge_channel():
    torch = pytest.importorskip("torch")
    from p2phd.models.inputs.network_input import get_edges

    inst = random_instances()
    expected = get_edges(torch.from_numpy(inst.astype(np.int64))).numpy().astype(bool)
    assert np.array_equal(instance_edges(inst), expected)


@pytest.mark.parametrize("rect", [Rect(0, 0, 10, 7), Rect(13, 5, 40, 33), Rect(50, 30, 70, 50), Rect(-5, -5, 3, 3)])
def test_a_rectangle_is_the_crop_of_the_whole(rect):
    inst = random_instances(1)
    whole = instance_edges(inst)
    clipped = rect.clip(inst.shape[1], inst.shape[0])
    assert np.array_equal(instance_edges(inst, rect), whole[clipped.slices])


def test_outline_is_inside_the_object_and_thicken_grows():
    inst = np.full((20, 20), 7, np.int32)
    inst[5:15, 5:15] = 26001
    outline = object_outline(inst, 26001, Rect(0, 0, 20, 20))
    assert outline.sum() == 36 and outline[5, 5] and not outline[4, 5] and not outline[10, 10]
    assert thicken(outline, 1).sum() > outline.sum() and np.array_equal(thicken(outline, 0), outline)


def test_saved_state_follows_undo_and_redo(tmp_path):
    doc = Document(64, 32, fill=7)
    assert not doc.modified
    doc.paint_stroke([(5, 5), (20, 5)], 26, 3)
    assert doc.modified
    doc.undo()
    assert not doc.modified  # back at the opened state
    doc.redo()
    doc.save_project(tmp_path / "a.p2phd")
    assert not doc.modified
    doc.paint_stroke([(5, 20), (20, 20)], 23, 3)
    doc.undo()
    assert not doc.modified  # back at the saved state
    doc.undo()
    assert doc.modified
    doc.redo()
    doc.paint_stroke([(30, 20), (40, 20)], 23, 3)
    doc.undo()
    doc.undo()
    doc.paint_stroke([(30, 10), (40, 10)], 21, 3)  # a new branch: the saved state is gone from the history
    assert doc.modified
    doc.undo()
    assert doc.modified
