import json

import numpy as np
import pytest
from p2phd.models.errors import CheckpointError
from p2phd.models.features.library import LibraryEntry, ObjectLibrary


def entry(label=26, shape=(5, 7), seed=0):
    mask = np.random.default_rng(seed).random(shape) > 0.5
    mask[0, 0] = True
    return LibraryEntry(
        label,
        mask,
        (10, 20, 10 + shape[1], 20 + shape[0]),
        (64, 32),
        np.array([0.1, -0.2, 0.3]),
        cluster=1,
        source="scene000",
        instance_id=26001,
    )


def test_round_trip_keeps_masks_and_metadata(tmp_path):
    lib = ObjectLibrary([entry(), entry(24, (3, 9), seed=1)])
    lib.save(tmp_path)
    loaded = ObjectLibrary.load(tmp_path)
    assert len(loaded) == 2 and loaded.labels() == [24, 26]
    for a, b in zip(lib.entries, loaded.entries):
        assert np.array_equal(a.mask, b.mask) and b.mask.dtype == bool
        assert a.bbox == b.bbox and a.image_size == b.image_size and b.cluster == 1
        np.testing.assert_allclose(a.feature, b.feature, rtol=1e-6)
    meta = json.loads((tmp_path / "library.json").read_text())
    assert meta["entries"][0]["area"] == int(lib.entries[0].mask.sum())
    with np.load(tmp_path / "library.npz", allow_pickle=False) as data:
        assert all(data[k].dtype == np.uint8 for k in data.files)


def test_missing_library_is_empty_and_broken_one_is_an_error(tmp_path):
    assert len(ObjectLibrary.load(tmp_path)) == 0
    ObjectLibrary([entry()]).save(tmp_path)
    meta = json.loads((tmp_path / "library.json").read_text())
    meta["entries"][0]["shape"] = [50, 50]
    (tmp_path / "library.json").write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="entry 0"):
        ObjectLibrary.load(tmp_path)
    (tmp_path / "library.npz").write_bytes(b"not a zip")
    with pytest.raises(CheckpointError):
        ObjectLibrary.load(tmp_path)


def test_empty_masks_are_refused(tmp_path):
    bad = entry()
    bad.mask[:] = False
    with pytest.raises(ValueError, match="non-empty"):
        ObjectLibrary([bad]).save(tmp_path)
