"""NVIDIA's pickled cluster file is read by an unpickler that admits numpy arrays and nothing else."""

from __future__ import annotations

import os
import pickle

import numpy as np
import pytest
from p2phd.models.checkpoint.safe_pickle import UnsafePickleError, load_feature_clusters, safe_loads
from p2phd.models.errors import CheckpointError


class CreatesMarker:
    """Unpickling this would create a file: the tell-tale of executed code."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


class RunsShell:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


class Evals:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (eval, (f"open({self.marker!r}, 'w')",))


def test_genuine_nvidia_file_is_read(tmp_path):
    rng = np.random.default_rng(0)
    centres = {7: rng.normal(size=(10, 3)), 26: rng.normal(size=(4, 3))}
    path = tmp_path / "features_clustered_010.npy"
    np.save(path, centres)  # exactly what NVIDIA's encode_features.py does
    loaded = load_feature_clusters(path)
    assert sorted(loaded) == [7, 26]
    for k, v in centres.items():
        assert loaded[k].dtype == np.float32
        np.testing.assert_array_equal(loaded[k], v.astype(np.float32))


def test_python2_style_protocol2_pickle_is_read(tmp_path):
    """Files written with pickle protocol 2 spell bytes as _codecs.encode: still plain data."""
    path = tmp_path / "features_clustered_010.npy"
    obj = np.empty((), dtype=object)
    obj[()] = {24: np.arange(6, dtype=np.float64).reshape(2, 3)}
    with open(path, "wb") as fp:
        np.lib.format.write_array_header_1_0(fp, {"descr": "|O", "fortran_order": False, "shape": ()})
        pickle.dump(obj, fp, protocol=2)
    np.testing.assert_array_equal(load_feature_clusters(path)[24], np.arange(6).reshape(2, 3))


@pytest.mark.parametrize("payload", [CreatesMarker, RunsShell, Evals])
def test_hostile_file_runs_nothing_and_is_refused(tmp_path, payload):
    marker = tmp_path / "pwned"
    path = tmp_path / "features_clustered_010.npy"
    np.save(path, {26: payload(marker)}, allow_pickle=True)
    with pytest.raises(CheckpointError, match="unsafe"):
        load_feature_clusters(path)
    assert not marker.exists()


def test_hostile_payload_outside_the_dict_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    with pytest.raises(UnsafePickleError, match="posix.system|nt.system"):
        safe_loads(pickle.dumps(RunsShell(marker)))
    assert not marker.exists()


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "cannot read"),
        (b"not a numpy file at all", "cannot read"),
    ],
)
def test_garbage_is_a_checkpoint_error(tmp_path, content, message):
    path = tmp_path / "features_clustered_010.npy"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match=message):
        load_feature_clusters(path)


def test_truncated_file_is_a_checkpoint_error(tmp_path):
    path = tmp_path / "features_clustered_010.npy"
    np.save(path, {7: np.ones((10, 3))})
    path.write_bytes(path.read_bytes()[:-40])
    with pytest.raises(CheckpointError, match="cannot read"):
        load_feature_clusters(path)


def test_plain_array_and_bad_values_are_refused(tmp_path):
    path = tmp_path / "a.npy"
    np.save(path, np.ones((3, 3)))
    with pytest.raises(CheckpointError, match="pickled dict"):
        load_feature_clusters(path)
    np.save(path, {"car": np.ones((3, 3))})
    with pytest.raises(CheckpointError, match="not a label id"):
        load_feature_clusters(path)
    np.save(path, {7: [1.0, 2.0]})
    with pytest.raises(CheckpointError, match="2-D numeric"):
        load_feature_clusters(path)
