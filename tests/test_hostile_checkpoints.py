"""Hostile or absurd checkpoints and options : each is one line on stderr
and exit code 2, nothing is allocated wildly, and nothing that is not ours is overwritten or deleted."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest
import torch
from nvidia_ref import save_nvidia_checkpoint
from p2phd.models.checkpoint.bundle import MAX_CLUSTERS_BYTES, load_clusters
from p2phd.models.checkpoint.loader import load_bundle
from p2phd.models.cli.main import main
from p2phd.models.config import ModelConfig
from p2phd.models.errors import CheckpointError
from PIL import Image
from tiny import save_tiny_bundle, tiny_config


def cli_error(capsys, argv) -> str:
    """Run the CLI expecting a user error: exit 2 and exactly one line on stderr, no traceback."""
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's usage errors
        code = exc.code
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and "Traceback" not in err, (code, err)
    return lines[0]


@pytest.fixture
def label_png(tmp_path):
    label = np.full((32, 64), 7, np.uint8)
    Image.fromarray(label).save(tmp_path / "label.png")
    return tmp_path / "label.png"


@pytest.fixture
def bundle_dir(tmp_path):
    return save_tiny_bundle(tmp_path / "bundle")


# ----- config.json: types and bounds (item 7) ----------------------------------------------------
BAD_CONFIGS = {
    "ngf string": ({"ngf": "4"}, "ngf must be an integer"),
    "schema string": ({"schema_version": "2"}, "schema_version"),
    "schema bool": ({"schema_version": True}, "schema_version"),
    "ngf 1e9": ({"ngf": 10**9}, "ngf=1000000000 is out of range"),
    "ngf float": ({"ngf": 4.0}, "ngf must be an integer"),
    "n_downsample_global 60": ({"n_downsample_global": 60}, "n_downsample_global=60"),
    "feat_num 1e9": ({"feat_num": 10**9}, "feat_num"),
    "native size 2^20": ({"native_width": 2**20, "native_height": 256}, "native_width"),
    "instance_feat int": ({"instance_feat": 1}, "instance_feat must be true or false"),
    "label_nc 0": ({"label_nc": 0}, "label_nc=0"),
    "channels": ({"ngf": 512, "n_downsample_global": 8}, "channels"),
}


@pytest.mark.parametrize("changes, message", BAD_CONFIGS.values(), ids=BAD_CONFIGS.keys())
def test_bad_config_values_are_refused(changes, message):
    with pytest.raises(CheckpointError, match=message):
        ModelConfig.from_dict({**tiny_config().to_dict(), **changes})


@pytest.mark.parametrize("changes", [BAD_CONFIGS["ngf string"][0], BAD_CONFIGS["ngf 1e9"][0]], ids=["type", "size"])
def test_synthesize_with_a_bad_config_is_one_line(bundle_dir, label_png, tmp_path, capsys, changes):
    config = json.loads((bundle_dir / "config.json").read_text())
    (bundle_dir / "config.json").write_text(json.dumps({**config, **changes}))
    argv = ["synthesize", "--checkpoint", str(bundle_dir), "--label", str(label_png), "--out", str(tmp_path / "o.png")]
    assert "ngf" in cli_error(capsys, argv)
    assert not (tmp_path / "o.png").exists()


def test_the_shipped_architectures_are_within_bounds():
    from p2phd.models.checkpoint.locate import find_checkpoint
    from p2phd.models.config import ARCHS

    assert ModelConfig.load(find_checkpoint() / "config.json").ngf > 0 and len(ARCHS) == 2


# ----- tensors (items 7 and 10) ------------------------------------------------------------------
def test_a_one_dimensional_first_weight_is_refused(tmp_path, label_png, capsys):
    (tmp_path / "nv").mkdir()
    save_nvidia_checkpoint(tmp_path / "nv", tiny_config(), seed=0)
    state = torch.load(tmp_path / "nv" / "latest_net_G.pth", weights_only=True)
    state["model.1.weight"] = torch.zeros(5)
    torch.save(state, tmp_path / "nv" / "latest_net_G.pth")
    argv = [
        "synthesize",
        "--checkpoint",
        str(tmp_path / "nv"),
        "--label",
        str(label_png),
        "--out",
        str(tmp_path / "o.png"),
    ]
    assert "model.1.weight" in cli_error(capsys, argv)


def test_an_int32_tensor_in_G_safetensors_is_refused(bundle_dir):
    from safetensors.torch import load_file, save_file

    state = load_file(str(bundle_dir / "G.safetensors"))
    key = next(k for k in state if k.endswith("weight"))
    state[key] = state[key].to(torch.int32)
    save_file(state, str(bundle_dir / "G.safetensors"))
    with pytest.raises(CheckpointError, match=f"{key} is torch.int32"):
        load_bundle(bundle_dir)


# ----- clusters.npz: sizes checked before reading (item 7) ---------------------------------------
def _npy_header(shape) -> bytes:
    import io

    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": "<f4", "fortran_order": False, "shape": shape})
    return buf.getvalue()


def test_a_clusters_member_expanding_past_the_limit_is_refused_unread(tmp_path):
    path = tmp_path / "clusters.npz"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        n = MAX_CLUSTERS_BYTES // 4 + 16
        archive.writestr("class_26.npy", _npy_header((n // 2, 2)) + bytes(n * 4))
    assert path.stat().st_size < MAX_CLUSTERS_BYTES // 100  # a small file that expands
    with pytest.raises(CheckpointError, match="declare"):
        load_clusters(path)


def test_a_clusters_header_declaring_2_GiB_is_refused_before_allocating(tmp_path):
    path = tmp_path / "clusters.npz"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("class_26.npy", _npy_header((2**28, 2)) + bytes(64))  # 2 GiB of float32
    with pytest.raises(CheckpointError, match="declares shape"):
        load_clusters(path)


def test_honest_clusters_still_load(tmp_path):
    from p2phd.models.checkpoint.bundle import save_clusters

    save_clusters(tmp_path / "c.npz", {26: np.ones((10, 3), np.float32)})
    assert load_clusters(tmp_path / "c.npz")[26].shape == (10, 3)


# ----- allocation-sized options (item 7) ---------------------------------------------------------
def test_synthesize_size_is_bounded(bundle_dir, label_png, tmp_path, capsys):
    argv = ["synthesize", "--checkpoint", str(bundle_dir), "--label", str(label_png), "--out", str(tmp_path / "o.png")]
    assert "--size 65536x65536" in cli_error(capsys, [*argv, "--size", "65536x65536"])


def test_bench_size_must_be_positive(capsys):
    assert "--size 0x0" in cli_error(capsys, ["bench", "--size", "0x0"])


def test_train_ngf_is_bounded(tmp_path, capsys):
    argv = ["train", "--name", "t", "--checkpoints_dir", str(tmp_path / "runs"), "--no_vgg_loss"]
    assert "ngf" in cli_error(capsys, [*argv, "--ngf", "1000000000"])
    assert "loadSize" in cli_error(capsys, [*argv, "--loadSize", "100000"])
    assert not (tmp_path / "runs").exists()


def test_encode_per_class_must_not_be_negative(bundle_dir, tmp_path, capsys):
    argv = ["encode", "--checkpoint", str(bundle_dir), "--dataroot", str(tmp_path), "--per_class", "-1"]
    assert "--per_class" in cli_error(capsys, argv)


def test_train_that_fails_on_its_data_leaves_no_options_behind(tmp_path, capsys):
    from p2phd.models.data.synthetic import write_synthetic_dataset

    data = write_synthetic_dataset(tmp_path / "data", n=2, width=32, height=16)
    runs = tmp_path / "runs"
    argv = ["train", "--name", "t", "--checkpoints_dir", str(runs), "--dataroot", str(data), "--label_nc", "5"]
    tiny = ["--ngf", "4", "--n_downsample_global", "2", "--n_blocks_global", "1", "--ndf", "4", "--n_layers_D", "2"]
    small = ["--no_vgg_loss", "--loadSize", "32", "--fineSize", "32", "--niter", "1", "--niter_decay", "0"]
    assert main([*argv, *tiny, *small, "--nThreads", "0", "--device", "cpu"]) == 2
    err = capsys.readouterr().err  # tqdm's bar, then the one-line error
    assert "label_nc (5)" in err.strip().splitlines()[-1] and "Traceback" not in err
    assert not (runs / "t" / "options.json").exists()


# ----- convert never destroys (items 1 and 10) ---------------------------------------------------
@pytest.fixture
def nvidia_dir(tmp_path):
    path = tmp_path / "ckpts" / "label2city_tiny"
    path.mkdir(parents=True)
    save_nvidia_checkpoint(path, tiny_config(), seed=0)
    return path


def _tree(path):
    return {p.relative_to(path): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


def test_convert_refuses_a_folder_with_other_files(nvidia_dir, tmp_path, capsys):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "thesis.tex").write_text("years of work")
    assert "not a bundle" in cli_error(capsys, ["convert", str(nvidia_dir), str(out)])
    assert cli_error(capsys, ["convert", str(nvidia_dir), str(out), "--force"])  # --force replaces bundles only
    assert (out / "thesis.tex").read_text() == "years of work" and len(list(out.iterdir())) == 1


def test_convert_refuses_the_source_parent_and_keeps_the_source(nvidia_dir, capsys):
    before = _tree(nvidia_dir.parent)
    for extra in ([], ["--force"]):
        assert "source" in cli_error(capsys, ["convert", str(nvidia_dir), str(nvidia_dir.parent), *extra])
    assert _tree(nvidia_dir.parent) == before


def test_convert_refuses_an_existing_file(nvidia_dir, tmp_path, capsys):
    out = tmp_path / "model.bin"
    out.write_bytes(b"keep me")
    for extra in ([], ["--force"]):
        assert "not a directory" in cli_error(capsys, ["convert", str(nvidia_dir), str(out), *extra])
    assert out.read_bytes() == b"keep me"


def test_convert_replaces_a_bundle_only_with_force(nvidia_dir, tmp_path, capsys):
    out = tmp_path / "bundle"
    assert main(["convert", str(nvidia_dir), str(out)]) == 0
    first = _tree(out)
    assert "--force" in cli_error(capsys, ["convert", str(nvidia_dir), str(out)])
    assert _tree(out) == first
    assert main(["convert", str(nvidia_dir), str(out), "--force"]) == 0
    assert load_bundle(out).config.ngf == 4
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporaries left


def test_convert_fills_an_empty_folder(nvidia_dir, tmp_path):
    (tmp_path / "empty").mkdir()
    assert main(["convert", str(nvidia_dir), str(tmp_path / "empty")]) == 0
    assert (tmp_path / "empty" / "G.safetensors").is_file()


def test_convert_label_nc_zero_is_refused(nvidia_dir, tmp_path, capsys):
    assert "--label-nc" in cli_error(capsys, ["convert", str(nvidia_dir), str(tmp_path / "b"), "--label-nc", "0"])
    assert not (tmp_path / "b").exists()


def test_synthesize_never_writes_over_its_input(bundle_dir, label_png, capsys):
    before = label_png.read_bytes()
    argv = ["synthesize", "--checkpoint", str(bundle_dir), "--label", str(label_png), "--out", str(label_png)]
    assert "input" in cli_error(capsys, argv)
    assert label_png.read_bytes() == before
