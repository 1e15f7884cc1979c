"""NVIDIA checkpoint directories: loading, inference of the architecture, refusal of bad files,
and ``p2phd convert`` to our bundle format."""

from __future__ import annotations

import hashlib
import json
import os

import numpy as np
import pytest
import torch
from nvidia_ref import save_nvidia_checkpoint
from p2phd.models.checkpoint.loader import load_bundle
from p2phd.models.checkpoint.nvidia import load_nvidia_dir
from p2phd.models.cli.main import main
from p2phd.models.errors import CheckpointError
from p2phd.models.synthesis import synthesize
from tiny import tiny_config

TINY = tiny_config()
TINY_FEATURES = tiny_config("local", features=True)


@pytest.fixture
def nvidia_dir(tmp_path):
    path = tmp_path / "label2city_tiny"
    path.mkdir()
    save_nvidia_checkpoint(path, TINY_FEATURES, seed=0)
    return path


def maps(h=32, w=64):
    label = np.full((h, w), 7, np.uint8)
    label[:, w // 2 :] = 26
    inst = label.astype(np.int32)
    inst[:, w // 2 :] = 26001
    return label, inst


def test_nvidia_dir_loads_with_inferred_architecture(nvidia_dir):
    bundle = load_nvidia_dir(nvidia_dir)
    assert bundle.config == TINY_FEATURES
    assert bundle.source == "nvidia" and bundle.E is not None
    assert sorted(bundle.clusters) == [7, 11, 24, 26]
    assert bundle.config.provenance["files"] == ["latest_net_G.pth", "latest_net_E.pth", "features_clustered_010.npy"]
    expected = torch.load(nvidia_dir / "latest_net_G.pth", weights_only=True)
    for k, v in bundle.G.state_dict().items():
        assert torch.equal(v, expected[k])


def test_convert_writes_a_bundle_that_synthesizes_the_same(tmp_path, nvidia_dir, capsys):
    out = tmp_path / "bundle"
    assert main(["convert", str(nvidia_dir), str(out)]) == 0
    assert "wrote" in capsys.readouterr().out
    assert {p.name for p in out.iterdir()} == {"config.json", "G.safetensors", "E.safetensors", "clusters.npz"}
    provenance = json.loads((out / "config.json").read_text())["provenance"]
    assert provenance["source"] == "nvidia"
    digest = hashlib.sha256((nvidia_dir / "latest_net_G.pth").read_bytes()).hexdigest()
    assert provenance["sha256"]["latest_net_G.pth"] == digest
    with np.load(out / "clusters.npz", allow_pickle=False) as data:
        assert sorted(data.files) == ["class_11", "class_24", "class_26", "class_7"]
    label, inst = maps()
    direct = synthesize(load_bundle(nvidia_dir), label, inst)
    converted = synthesize(load_bundle(out), label, inst)
    np.testing.assert_array_equal(direct, converted)


def test_latest_is_preferred_then_the_highest_epoch(tmp_path):
    save_nvidia_checkpoint(tmp_path, TINY, seed=0, which="5")
    save_nvidia_checkpoint(tmp_path, TINY, seed=1, which="20")
    twenty = torch.load(tmp_path / "20_net_G.pth", weights_only=True)
    assert torch.equal(load_nvidia_dir(tmp_path).G.model[1].weight, twenty["model.1.weight"])
    save_nvidia_checkpoint(tmp_path, TINY, seed=2, which="latest")
    latest = torch.load(tmp_path / "latest_net_G.pth", weights_only=True)
    assert torch.equal(load_nvidia_dir(tmp_path).G.model[1].weight, latest["model.1.weight"])


def test_dataparallel_prefix_is_stripped(tmp_path):
    save_nvidia_checkpoint(tmp_path, TINY, seed=0)
    state = torch.load(tmp_path / "latest_net_G.pth", weights_only=True)
    torch.save({f"module.{k}": v for k, v in state.items()}, tmp_path / "latest_net_G.pth")
    assert load_nvidia_dir(tmp_path).config == TINY


def test_label_only_checkpoint_has_no_features(tmp_path):
    save_nvidia_checkpoint(tmp_path, TINY, seed=0)
    config = load_nvidia_dir(tmp_path).config
    assert not config.instance_feat and not config.no_instance and config.netG_input_nc == 36


def test_truncated_checkpoint_is_refused(nvidia_dir):
    path = nvidia_dir / "latest_net_G.pth"
    path.write_bytes(path.read_bytes()[: os.path.getsize(path) // 2])
    with pytest.raises(CheckpointError, match="truncated"):
        load_nvidia_dir(nvidia_dir)


def test_wrong_tensor_shape_is_refused(nvidia_dir):
    state = torch.load(nvidia_dir / "latest_net_G.pth", weights_only=True)
    key = "model1_2.0.conv_block.1.weight"
    state[key] = torch.zeros(8, 8, 3, 2)
    torch.save(state, nvidia_dir / "latest_net_G.pth")
    with pytest.raises(CheckpointError, match=f"{key} has shape"):
        load_nvidia_dir(nvidia_dir)


def test_missing_tensor_is_refused(nvidia_dir):
    state = torch.load(nvidia_dir / "latest_net_G.pth", weights_only=True)
    del state["model1_1.4.bias"]
    torch.save(state, nvidia_dir / "latest_net_G.pth")
    with pytest.raises(CheckpointError, match="missing 1 tensors"):
        load_nvidia_dir(nvidia_dir)


class MakesMarker:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_pth_with_code_is_refused_without_running_it(nvidia_dir, tmp_path):
    marker = tmp_path / "pwned"
    state = torch.load(nvidia_dir / "latest_net_G.pth", weights_only=True)
    state["payload"] = MakesMarker(marker)
    torch.save(state, nvidia_dir / "latest_net_G.pth")
    with pytest.raises(CheckpointError, match="weights-only"):
        load_nvidia_dir(nvidia_dir)
    assert not marker.exists()


def test_clusters_disagreeing_with_the_encoder_are_refused(nvidia_dir):
    np.save(nvidia_dir / "features_clustered_010.npy", {26: np.ones((2, 5))})
    with pytest.raises(CheckpointError, match="5 features"):
        load_nvidia_dir(nvidia_dir)


def test_convert_refuses_its_own_input_as_output(nvidia_dir):
    assert main(["convert", str(nvidia_dir), str(nvidia_dir)]) == 2
