"""One loader above the formats: bundle, NVIDIA directory and training run directory
(``p2phd synthesize --checkpoint runs/NAME`` resolves to the run's bundle, as ``encode`` does)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from p2phd.models.checkpoint.loader import load_bundle
from p2phd.models.checkpoint.locate import locate
from p2phd.models.cli.main import main
from p2phd.models.errors import CheckpointError
from PIL import Image
from tiny import save_tiny_bundle, tiny_config


@pytest.fixture
def run_dir(tmp_path):
    run = tmp_path / "runs" / "tiny"
    save_tiny_bundle(run / "bundle", tiny_config(native_width=64, native_height=32), seed=3)
    (run / "options.json").write_text(json.dumps({"loadSize": 64, "name": "tiny"}))
    return run


def test_a_run_directory_resolves_to_its_bundle(run_dir):
    where = locate(run_dir)
    assert (where.kind, where.path, where.run_dir) == ("bundle", run_dir / "bundle", run_dir)
    assert where.options["loadSize"] == 64
    assert load_bundle(run_dir).path == run_dir / "bundle"


def test_synthesize_accepts_a_run_directory(run_dir, tmp_path):
    label = np.full((32, 64), 7, np.uint8)
    label[:16] = 23
    Image.fromarray(label).save(tmp_path / "l.png")
    outs = []
    for i, ckpt in enumerate((run_dir, run_dir / "bundle")):
        out = tmp_path / f"out{i}.png"
        argv = ["synthesize", "--checkpoint", str(ckpt), "--label", str(tmp_path / "l.png"), "--out", str(out)]
        assert main([*argv, "--precision", "fp32", "--device", "cpu"]) == 0
        outs.append(np.array(Image.open(out)))
    np.testing.assert_array_equal(outs[0], outs[1])


def test_a_run_without_a_bundle_yet_is_a_clear_error(tmp_path):
    run = tmp_path / "runs" / "early"
    (run / "train").mkdir(parents=True)
    (run / "train" / "latest").write_text("epoch001.pt\n")
    with pytest.raises(CheckpointError, match="no bundle yet"):
        load_bundle(run)


@pytest.mark.parametrize("make", ["file", "empty_dir", "missing"])
def test_what_is_not_a_model_is_named(tmp_path, make):
    path = tmp_path / "thing"
    if make == "file":
        path.write_text("x")
    elif make == "empty_dir":
        path.mkdir()
    with pytest.raises(CheckpointError, match="not a file|neither a bundle|not found"):
        load_bundle(path)
