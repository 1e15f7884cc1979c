"""Input encoding agrees with NVIDIA's code (map files: test_mapfiles.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from nvidia_ref import make_clusters, nvidia_input, nvidia_ui_features
from p2phd.models.config import ModelConfig
from p2phd.models.inputs.network_input import encode_input, feature_map


def random_maps(seed: int, h: int = 24, w: int = 40):
    rng = np.random.default_rng(seed)
    label = rng.integers(0, 35, (h, w)).astype(np.uint8)
    inst = np.where(label >= 24, label.astype(np.int32) * 1000 + rng.integers(0, 3, (h, w)), label)
    return label, inst.astype(np.int32)


@pytest.mark.parametrize("seed", [0, 1])
def test_one_hot_and_edges_equal_nvidia_encode_input(seed):
    label, inst = random_maps(seed)
    ours = encode_input(ModelConfig(), label, inst)
    torch.testing.assert_close(ours, nvidia_input(label, inst, 35), rtol=0, atol=0)


def test_feature_map_follows_nvidia_ui_default_styles():
    label, inst = random_maps(2)
    clusters = make_clusters(3, seed=0)
    clusters32 = {k: v.astype(np.float32) for k, v in clusters.items()}
    ours = torch.from_numpy(feature_map(inst, clusters32, 3))[None]
    torch.testing.assert_close(ours, nvidia_ui_features(inst, clusters, 3), rtol=0, atol=0)


def test_read_only_maps_are_copied_not_shared_with_torch():
    from p2phd.models.inputs.network_input import _tensor

    label, inst = random_maps(3)
    inst.flags.writeable = False  # as a document's maps are handed out
    tensor = _tensor(inst, np.int32)
    tensor += 1  # torch warns (once per process) on tensors over read-only memory: none is made
    assert tensor[0, 0] == inst[0, 0] + 1 and inst[0, 0] == random_maps(3)[1][0, 0]
    writable = np.ascontiguousarray(inst.copy())
    assert np.shares_memory(_tensor(writable, np.int32).numpy(), writable)  # writable, already int32: no copy


@pytest.mark.parametrize("offset", [0, 1 << 20, -5], ids=["counted", "ids too large: sorted", "negative: sorted"])
def test_feature_map_is_the_same_whichever_way_ids_are_indexed(offset):
    from p2phd.models.inputs import network_input

    label, inst = random_maps(4)
    inst = inst.astype(np.int64) + offset  # ids past DENSE_IDS or below 0 take np.unique's path
    styles = {int(i): np.float32([i % 7, -1.0, 0.5]) for i in np.unique(inst)[::2]}
    ours = feature_map(inst, make_clusters(3, seed=1), 3, styles)
    ids = np.unique(inst)  # the obvious way: one vector per object, painted where it is
    expected = np.zeros((3, *inst.shape), np.float32)
    for i in ids:
        expected[:, inst == i] = network_input.resolve_style(int(i), make_clusters(3, seed=1), 3, styles)[:, None]
    np.testing.assert_array_equal(ours, expected)


def test_encoding_into_a_kept_buffer_overwrites_all_of_it():
    cfg = ModelConfig(instance_feat=True, feat_num=3)
    label, inst = random_maps(5)
    feat = feature_map(inst, make_clusters(3, seed=0), 3)
    fresh = encode_input(cfg, label, inst, feat)
    kept = torch.full_like(fresh, float("nan"))  # the last frame's input, or garbage
    out = encode_input(cfg, label, inst, feat, out=kept)
    assert out is kept
    torch.testing.assert_close(out, fresh, rtol=0, atol=0)
    wrong = torch.zeros(1, fresh.shape[1], 8, 8)
    assert encode_input(cfg, label, inst, feat, out=wrong) is not wrong  # another size: a new tensor
