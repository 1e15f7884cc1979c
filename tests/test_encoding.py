"""Input encoding and map I/O agree with NVIDIA's code and PIL, and bad maps fail clearly."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from nvidia_ref import make_clusters, nvidia_input, nvidia_ui_features
from p2phd.models.config import ModelConfig
from p2phd.models.errors import InputMapError
from p2phd.models.inputs.network_input import encode_input, feature_map
from p2phd.models.labels import PALETTE, colorize
from p2phd.models.maps_io import (
    nvidia_test_size,
    read_image,
    read_instance,
    read_label,
    resize_nearest,
    write_png_atomic,
)
from PIL import Image


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


@pytest.mark.parametrize("in_hw, out_wh", [((37, 53), (64, 32)), ((1024, 2048), (256, 128)), ((31, 65), (17, 90))])
def test_resize_nearest_equals_pil(in_hw, out_wh):
    rng = np.random.default_rng(0)
    ids = rng.integers(0, 40000, in_hw).astype(np.int32)
    expected = np.array(Image.fromarray(ids).resize(out_wh, Image.NEAREST))
    np.testing.assert_array_equal(resize_nearest(ids, out_wh), expected)


def test_nvidia_test_size_rounds_like_make_power_2():
    assert nvidia_test_size(2048, 1024, 32) == (2048, 1024)
    assert nvidia_test_size(70, 37, 8) == (72, 40)
    assert nvidia_test_size(100, 20, 8) == (96, 16)  # 12.5 -> 12 and 2.5 -> 2: Python's round
    with pytest.raises(InputMapError, match="too small"):
        nvidia_test_size(10, 3, 32)


def test_read_label_accepts_ids_palette_indices_and_colours(tmp_path):
    label, _ = random_maps(3)
    label[label == 34] = 33  # 34 has no colour
    Image.fromarray(label, "L").save(tmp_path / "ids.png")
    indexed = Image.fromarray(label, "L").convert("P")
    indexed.save(tmp_path / "indexed.png")
    Image.fromarray(colorize(label)).save(tmp_path / "colour.png")
    np.testing.assert_array_equal(read_label(tmp_path / "ids.png"), label)
    assert read_label(tmp_path / "indexed.png").shape == label.shape
    from_colours = read_label(tmp_path / "colour.png")
    np.testing.assert_array_equal(PALETTE[from_colours], PALETTE[label])  # shared colours map to one id


def test_unknown_colours_are_listed(tmp_path):
    rgb = np.zeros((8, 8, 3), np.uint8)
    rgb[0, 0] = (1, 2, 3)
    Image.fromarray(rgb).save(tmp_path / "bad.png")
    with pytest.raises(InputMapError, match=r"\(1, 2, 3\)"):
        read_label(tmp_path / "bad.png")


def test_read_instance_keeps_16_bit_ids(tmp_path):
    inst = np.array([[26001, 33000], [7, 0]], np.uint16)
    Image.fromarray(inst).save(tmp_path / "inst.png")
    out = read_instance(tmp_path / "inst.png")
    assert out.dtype == np.int32
    np.testing.assert_array_equal(out, inst)


@pytest.mark.parametrize("reader", [read_label, read_instance, read_image])
def test_missing_corrupt_and_truncated_files(tmp_path, reader):
    with pytest.raises(InputMapError, match="not found"):
        reader(tmp_path / "absent.png")
    (tmp_path / "junk.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    with pytest.raises(InputMapError, match="junk.png"):
        reader(tmp_path / "junk.png")
    rgb = np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "full.png")
    (tmp_path / "cut.png").write_bytes((tmp_path / "full.png").read_bytes()[:-300])
    with pytest.raises(InputMapError, match="cut.png"):
        reader(tmp_path / "cut.png")


def test_write_png_atomic_leaves_nothing_on_failure(tmp_path, monkeypatch):
    rgb = np.zeros((4, 6, 3), np.uint8)
    write_png_atomic(tmp_path / "ok.png", rgb)
    np.testing.assert_array_equal(np.array(Image.open(tmp_path / "ok.png")), rgb)

    def fails_half_way(self, fp, *args, **kwargs):
        fp.write(b"\x89PNG partial")
        raise OSError("disk full")

    monkeypatch.setattr(Image.Image, "save", fails_half_way)
    with pytest.raises(OSError, match="disk full"):
        write_png_atomic(tmp_path / "bad.png", rgb)
    with pytest.raises(OSError, match="disk full"):
        write_png_atomic(tmp_path / "ok.png", rgb + 1)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ok.png"]
    np.testing.assert_array_equal(np.array(Image.open(tmp_path / "ok.png")), rgb)  # old result intact
