"""Validation on open: each kind of bad map is a clear DocumentError; odd but usable maps give warnings."""

import numpy as np
import pytest
from p2phd.editor.document import Document
from p2phd.editor.errors import DocumentError
from p2phd.models.errors import P2PHDError
from PIL import Image


def save(path, array, mode=None):
    Image.fromarray(array, mode=mode).save(path) if mode else Image.fromarray(array).save(path)
    return path


@pytest.fixture
def good(tmp_path):
    label = np.full((8, 16), 7, np.uint8)
    inst = label.astype(np.uint16)
    label[2:5, 2:5], inst[2:5, 2:5] = 26, 26001
    return label, inst


def test_error_types():
    assert issubclass(DocumentError, ValueError) and issubclass(DocumentError, P2PHDError)


def test_good_maps_open(tmp_path, good):
    doc = Document.open(save(tmp_path / "l.png", good[0]), save(tmp_path / "i.png", good[1]))
    assert doc.object_area(26001) == 9 and doc.warnings == []


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda l, i: (l.astype(np.uint16) * 300, i), r"label map .* holds values up to 7800: ids are 0\.\.255"),
        (lambda l, i: (np.stack([l, l], -1), i), "mode 'LA'"),
        (lambda l, i: (np.where(l == 7, 40, l).astype(np.uint8), i), "label ids 40"),
        (lambda l, i: (l, i[:4]), "instance map is 16x4, the label map 16x8"),
        (lambda l, i: (l, np.where(i == 26001, 24001, i).astype(np.uint16)), "class disagrees"),
        (
            lambda l, i: (l, np.where(i == 7, 7003, i).astype(np.uint16)),
            r"stuff classes \(road\) carry instance ids 7003",
        ),
        (lambda l, i: (l, np.stack([i.astype(np.uint8)] * 3, -1)), "single-channel"),
        (lambda l, i: (l, np.where(i == 26001, 45001, i).astype(np.uint16)), "name classes >= 35"),
    ],
)
def test_each_validation_error(tmp_path, good, make, message):
    label, inst = make(*good)
    with pytest.raises(DocumentError, match=message):
        Document.open(save(tmp_path / "l.png", label), save(tmp_path / "i.png", inst))


def test_unreadable_and_missing_files(tmp_path, good):
    (tmp_path / "junk.png").write_bytes(b"\x89PNG garbage")
    with pytest.raises(DocumentError, match="cannot read label map"):
        Document.open(tmp_path / "junk.png")
    with pytest.raises(DocumentError, match="does not exist"):
        Document.open(tmp_path / "nope.png")


def test_unused_id_is_a_warning(tmp_path, good):
    label = good[0].copy()
    label[0, 0] = 34
    doc = Document.open(save(tmp_path / "l.png", label))
    assert len(doc.warnings) == 1 and "34" in doc.warnings[0]


def test_from_arrays_validates_too(good):
    with pytest.raises(DocumentError):
        Document.from_arrays(good[0], good[1][:, :3])
    with pytest.raises(DocumentError):
        Document.from_arrays(np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(DocumentError):
        Document.from_arrays(np.full((4, 4), 300))
    with pytest.raises(DocumentError):
        Document.from_arrays(good[0], good[1].astype(np.float32))
