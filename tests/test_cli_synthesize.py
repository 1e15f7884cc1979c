"""``p2phd synthesize``: outputs, options, and one-line errors that leave no file behind."""

from __future__ import annotations

import re
import subprocess
import sys

import numpy as np
import pytest
import torch
from nvidia_ref import save_nvidia_checkpoint
from p2phd.models.cli.main import main
from p2phd.models.labels import colorize
from PIL import Image
from tiny import tiny_config

TINY = tiny_config()
TINY_FEATURES = tiny_config(features=True)


def write_label(path, h=32, w=64, value=7):
    label = np.full((h, w), value, np.uint8)
    label[: h // 2] = 23
    Image.fromarray(label, "L").save(path)
    return path


@pytest.fixture
def ckpt(tmp_path):
    path = tmp_path / "nvidia"
    path.mkdir()
    save_nvidia_checkpoint(path, TINY_FEATURES, seed=0)
    return path


@pytest.fixture
def label_png(tmp_path):
    return write_label(tmp_path / "frame.png")


def run_error(capsys, argv, out_dir) -> str:
    """Run the CLI expecting failure: exit 2, one stderr line, no traceback, no new file in out_dir."""
    before = set(out_dir.iterdir())
    assert main(argv) == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("p2phd synthesize: error: "), err
    assert "Traceback" not in err
    assert set(out_dir.iterdir()) == before
    return lines[0]


def test_one_input_writes_one_file(ckpt, label_png, tmp_path):
    out = tmp_path / "photo.png"
    assert main(["synthesize", "--checkpoint", str(ckpt), "--label", str(label_png), "--out", str(out)]) == 0
    photo = np.array(Image.open(out))
    assert photo.shape == (32, 64, 3) and photo.dtype == np.uint8


def test_several_inputs_go_to_a_directory_with_progress(ckpt, tmp_path, capsys):
    labels = [write_label(tmp_path / f"l{i}.png", value=7 + i) for i in range(3)]
    out = tmp_path / "results"
    assert main(["synthesize", "--checkpoint", str(ckpt), "--label", *map(str, labels), "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["l0_synth.png", "l1_synth.png", "l2_synth.png"]
    assert "3/3" in capsys.readouterr().err  # tqdm's bar


def test_colour_label_equals_id_label(ckpt, label_png, tmp_path):
    colour = tmp_path / "colour.png"
    Image.fromarray(colorize(np.array(Image.open(label_png)))).save(colour)
    for src, dst in ((label_png, "a.png"), (colour, "b.png")):
        assert main(["synthesize", "--checkpoint", str(ckpt), "--label", str(src), "--out", str(tmp_path / dst)]) == 0
    np.testing.assert_array_equal(np.array(Image.open(tmp_path / "a.png")), np.array(Image.open(tmp_path / "b.png")))


def test_size_option_and_env_var_checkpoint(ckpt, label_png, tmp_path, monkeypatch):
    monkeypatch.setenv("P2PHD_CHECKPOINT", str(ckpt))
    out = tmp_path / "big.png"
    assert main(["synthesize", "--label", str(label_png), "--out", str(out), "--size", "96x48"]) == 0
    assert Image.open(out).size == (96, 48)


def test_bf16_is_close_to_fp32(ckpt, label_png, tmp_path):
    base = ["synthesize", "--checkpoint", str(ckpt), "--label", str(label_png), "--device", "cpu"]
    assert main([*base, "--out", str(tmp_path / "fp32.png"), "--precision", "fp32"]) == 0
    assert main([*base, "--out", str(tmp_path / "bf16.png"), "--precision", "bf16"]) == 0
    a, b = (np.array(Image.open(tmp_path / n)).astype(int) for n in ("fp32.png", "bf16.png"))
    assert np.abs(a - b).mean() < 8


@pytest.mark.parametrize(
    "make_bad, message",
    [
        (lambda p: p.write_bytes(b"\x89PNG\r\n\x1a\ngarbage"), "not a readable image"),
        (lambda p: p.write_bytes(p.read_bytes()[:-60]), "corrupt or truncated"),
        (lambda p: Image.fromarray(np.full((32, 64), 40, np.uint8), "L").save(p), r"label ids \[40\] are >= label_nc"),
        (lambda p: p.unlink(), "not found"),
    ],
    ids=["corrupt", "truncated", "id_too_large", "missing"],
)
def test_bad_label_maps(ckpt, tmp_path, capsys, make_bad, message):
    noisy = np.random.default_rng(0).integers(7, 24, (32, 64)).astype(np.uint8)
    label = tmp_path / "bad.png"
    Image.fromarray(noisy, "L").save(label)
    make_bad(label)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    line = run_error(
        capsys,
        ["synthesize", "--checkpoint", str(ckpt), "--label", str(label), "--out", str(out_dir / "x.png")],
        out_dir,
    )
    assert re.search(message, line), line


def test_instance_size_mismatch(ckpt, label_png, tmp_path, capsys):
    inst = tmp_path / "inst.png"
    Image.fromarray(np.zeros((32, 32), np.uint16)).save(inst)
    line = run_error(
        capsys,
        [
            "synthesize",
            "--checkpoint",
            str(ckpt),
            "--label",
            str(label_png),
            "--instance",
            str(inst),
            "--out",
            str(tmp_path / "x.png"),
        ],
        tmp_path,
    )
    assert "instance map is 32x32, label map 64x32" in line


def test_size_not_a_multiple(ckpt, label_png, tmp_path, capsys):
    line = run_error(
        capsys,
        [
            "synthesize",
            "--checkpoint",
            str(ckpt),
            "--label",
            str(label_png),
            "--size",
            "100x50",
            "--out",
            str(tmp_path / "x.png"),
        ],
        tmp_path,
    )
    assert "multiples of 4" in line


def test_truncated_checkpoint(ckpt, label_png, tmp_path, capsys):
    g = ckpt / "latest_net_G.pth"
    g.write_bytes(g.read_bytes()[:1000])
    line = run_error(
        capsys,
        ["synthesize", "--checkpoint", str(ckpt), "--label", str(label_png), "--out", str(tmp_path / "x.png")],
        tmp_path,
    )
    assert "latest_net_G.pth" in line


def test_wrong_tensor_shapes(ckpt, label_png, tmp_path, capsys):
    state = torch.load(ckpt / "latest_net_G.pth", weights_only=True)
    state["model.4.weight"] = torch.zeros(1, 1, 1, 1)
    torch.save(state, ckpt / "latest_net_G.pth")
    line = run_error(
        capsys,
        ["synthesize", "--checkpoint", str(ckpt), "--label", str(label_png), "--out", str(tmp_path / "x.png")],
        tmp_path,
    )
    assert "model.4.weight has shape (1, 1, 1, 1)" in line


class MakesMarker:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_hostile_cluster_file(ckpt, label_png, tmp_path, capsys):
    marker = tmp_path / "pwned"
    np.save(ckpt / "features_clustered_010.npy", {26: MakesMarker(marker)}, allow_pickle=True)
    line = run_error(
        capsys,
        ["synthesize", "--checkpoint", str(ckpt), "--label", str(label_png), "--out", str(tmp_path / "x.png")],
        tmp_path,
    )
    assert "unsafe" in line and "open" in line
    assert not marker.exists()


def test_instance_count_must_match(ckpt, label_png, tmp_path, capsys):
    line = run_error(
        capsys,
        [
            "synthesize",
            "--checkpoint",
            str(ckpt),
            "--label",
            str(label_png),
            str(label_png),
            "--instance",
            str(label_png),
            "--out",
            str(tmp_path / "o"),
        ],
        tmp_path,
    )
    assert "1 instance maps for 2 label maps" in line


def test_subprocess_success_and_clean_error(ckpt, label_png, tmp_path):
    out = tmp_path / "photo.png"
    cmd = [sys.executable, "-m", "p2phd.models.cli.main", "synthesize", "--checkpoint", str(ckpt), "--label"]
    ok = subprocess.run([*cmd, str(label_png), "--out", str(out)], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    assert Image.open(out).size == (64, 32)
    bad = subprocess.run(
        [*cmd, str(tmp_path / "nope.png"), "--out", str(tmp_path / "x.png")], capture_output=True, text=True
    )
    assert bad.returncode == 2
    assert bad.stderr.strip().splitlines() == [f"p2phd synthesize: error: input not found: {tmp_path / 'nope.png'}"]
    assert not (tmp_path / "x.png").exists()
