"""``p2phd bench`` plumbing on a tiny net (the real figures come from tests/bench/run_bench.sh)."""

import json
import math

import pytest
from p2phd.models.cli.main import main
from p2phd.models.engine.benchmark import run_benchmark, synthetic_scene
from test_engine import tiny_bundle, tiny_config


def test_benchmark_report_has_every_figure():
    cfg = tiny_config()
    report = run_benchmark(
        lambda: tiny_bundle(cfg),
        (128, 64),
        repeat=1,
        reference_repeat=1,
        precision="bf16",  # differs from the fp32 reference: the PSNR must be finite
        backend="eager",
        log=lambda line: None,
    )
    for key in (
        "load_s",
        "warmup_s",
        "engine_full_s",
        "fp32_full_s",
        "dab64_preview_s",
        "style_previews_s",
        "peak_rss_gib",
        "psnr_db",
        "speedup",
    ):
        assert key in report, key
    assert report["style_previews_k"] == 4 and report["backend"] == "eager"
    assert report["fp32_device"] == report["device"] == "cpu"  # the reference runs where the engine runs
    assert report["peak_gpu_mem_gib"] is None and report["peak_gpu_mem_engine_gib"] is None  # CUDA only
    # bf16 engine vs the eager fp32 reference: close, but a different computation (inf would mean
    # the "reference" was the engine itself)
    assert math.isfinite(report["psnr_db"]) and 25 < report["psnr_db"] < 100
    for key in ("engine_full_s", "fp32_full_s", "style_previews_s"):
        assert report[key]["median"] > 0, key
    assert report["speedup"] == pytest.approx(report["fp32_full_s"]["median"] / report["engine_full_s"]["median"])
    json.dumps(report)


def test_synthetic_scene_has_cars():
    label, inst = synthetic_scene(256, 128)
    assert label.shape == inst.shape == (128, 256) and (inst // 1000 == 26).any()


def test_bench_rejects_bad_counts(capsys):
    assert main(["bench", "--arch", "label2city_512p", "--repeat", "0"]) == 2
    assert "--repeat" in capsys.readouterr().err
