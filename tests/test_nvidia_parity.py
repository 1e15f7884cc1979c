"""``p2phd synthesize`` on an NVIDIA checkpoint == NVIDIA's own forward, to 0 grey levels (fp32).

The reference side uses only NVIDIA's code: its networks, its ``encode_input`` / ``get_edges``,
its editing UI's default-style rule, its ``__make_power_2`` resize (PIL NEAREST) and ``tensor2im``.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from nvidia_ref import nvidia_input, nvidia_ui_features, save_nvidia_checkpoint, tensor2im
from p2phd.models.cli.main import main
from PIL import Image
from tiny import tiny_config

TINY_LOCAL = tiny_config("local", n_blocks_global=2)
TINY_FEATURES = tiny_config("local", features=True, n_blocks_global=2)


def synthetic_maps(h: int, w: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Stuff rectangles plus car / person instances (ids class*1000+n), Cityscapes-style."""
    rng = np.random.default_rng(seed)
    label = np.full((h, w), 7, np.uint8)  # road
    label[: h // 3] = 23  # sky
    label[h // 3 : h // 2, : w // 2] = 11  # building
    label[h // 3 : h // 2, w // 2 :] = 21  # vegetation
    inst = label.astype(np.int32)
    for n in range(6):
        cls = (26, 24)[n % 2]
        y, x = rng.integers(0, h - 6), rng.integers(0, w - 8)
        label[y : y + rng.integers(3, 8), x : x + rng.integers(3, 10)] = cls
        inst[y : y + rng.integers(3, 8), x : x + rng.integers(3, 10)] = cls * 1000 + n
    label[inst >= 1000] = inst[inst >= 1000] // 1000
    return label, inst


def nvidia_reference(G, cfg, label_png, inst_png, clusters=None) -> np.ndarray:
    """NVIDIA's test-time path: NEAREST resize to multiples of the base, encode, features, forward."""
    label_img, inst_img = Image.open(label_png), Image.open(inst_png)
    base = float(cfg.size_multiple)
    ow, oh = label_img.size
    size = (int(round(ow / base) * base), int(round(oh / base) * base))  # __make_power_2
    label = np.array(label_img.resize(size, Image.NEAREST))
    inst = np.array(inst_img.resize(size, Image.NEAREST)).astype(np.int64)
    net_input = nvidia_input(label, inst, cfg.label_nc)
    if cfg.instance_feat:
        net_input = torch.cat((net_input, nvidia_ui_features(inst, clusters, cfg.feat_num)), dim=1)
    with torch.no_grad():
        return tensor2im(G(net_input)[0])


def write_maps(tmp_path, label, inst, stem="frame"):
    label_png, inst_png = tmp_path / f"{stem}_label.png", tmp_path / f"{stem}_inst.png"
    Image.fromarray(label, "L").save(label_png)
    Image.fromarray(inst.astype(np.uint16)).save(inst_png)  # 16-bit, as Cityscapes' instanceIds
    return label_png, inst_png


def assert_parity(ours: np.ndarray, reference: np.ndarray) -> None:
    assert ours.shape == reference.shape
    diff = np.abs(ours.astype(int) - reference.astype(int))
    assert diff.max() == 0, f"max difference {diff.max()} grey levels"
    assert reference.std() > 20, "reference image is nearly flat: the comparison would prove little"


def synthesize_fp32(ckpt, label_png, inst_png, out) -> int:
    """``p2phd synthesize`` at NVIDIA's precision (auto would pick bf16 on a bf16-capable CPU)."""
    argv = ["synthesize", "--checkpoint", str(ckpt), "--label", str(label_png), "--instance", str(inst_png)]
    return main([*argv, "--out", str(out), "--device", "cpu", "--precision", "fp32"])


@pytest.mark.parametrize("cfg", [TINY_LOCAL, TINY_FEATURES], ids=["label_only", "instance_features"])
def test_cli_matches_nvidia_forward(tmp_path, cfg):
    ckpt = tmp_path / "nvidia"
    ckpt.mkdir()
    G, _, clusters = save_nvidia_checkpoint(ckpt, cfg, seed=1)
    label, inst = synthetic_maps(37, 70, seed=2)  # not multiples of 8: exercises NVIDIA's rounding
    label_png, inst_png = write_maps(tmp_path, label, inst)
    out = tmp_path / "out.png"
    assert synthesize_fp32(ckpt, label_png, inst_png, out) == 0
    ours = np.array(Image.open(out))
    assert ours.shape == (40, 72, 3)
    assert_parity(ours, nvidia_reference(G, cfg, label_png, inst_png, clusters))


def test_feature_styles_change_only_the_chosen_object(tmp_path):
    """--style picks another cluster: the image changes, and NVIDIA's default is what we use otherwise."""
    ckpt = tmp_path / "nvidia"
    ckpt.mkdir()
    save_nvidia_checkpoint(ckpt, TINY_FEATURES, seed=3)
    label, inst = synthetic_maps(32, 64, seed=4)
    label_png, inst_png = write_maps(tmp_path, label, inst)
    common = ["synthesize", "--checkpoint", str(ckpt), "--label", str(label_png), "--instance", str(inst_png)]
    assert main([*common, "--out", str(tmp_path / "a.png")]) == 0
    default_k = int(np.random.RandomState(11 + 1).randint(10))
    assert main([*common, "--out", str(tmp_path / "b.png"), "--style", f"11={(default_k + 1) % 10}"]) == 0
    assert main([*common, "--out", str(tmp_path / "c.png"), "--style", f"11={default_k}"]) == 0
    a, b, c = (np.array(Image.open(tmp_path / f"{n}.png")) for n in "abc")
    assert not np.array_equal(a, b)
    assert np.array_equal(a, c)


@pytest.mark.integration
def test_cityscapes_sample_matches_nvidia(tmp_path, cityscapes_samples):
    """A real frame downscaled to 256x128 (never saved outside tmp_path) through the CLI."""
    label_src = sorted((cityscapes_samples / "train_label").glob("*.png"))[0]
    inst_src = sorted((cityscapes_samples / "train_inst").glob("*.png"))[0]
    label = np.array(Image.open(label_src).resize((256, 128), Image.NEAREST))
    inst = np.array(Image.open(inst_src).resize((256, 128), Image.NEAREST)).astype(np.int32)
    label_png, inst_png = write_maps(tmp_path, label, inst)
    cfg = TINY_FEATURES.replace(ngf=8)
    ckpt = tmp_path / "nvidia"
    ckpt.mkdir()
    G, _, clusters = save_nvidia_checkpoint(ckpt, cfg, seed=5)
    out = tmp_path / "out.png"
    assert synthesize_fp32(ckpt, label_png, inst_png, out) == 0
    assert_parity(np.array(Image.open(out)), nvidia_reference(G, cfg, label_png, inst_png, clusters))
