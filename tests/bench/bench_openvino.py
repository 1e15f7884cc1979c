"""Interleaved CPU comparison: eager fp32 (NVIDIA's way) vs the OpenVINO backend (bf16 hint) vs our
default (``auto``: bf16 + one-hot lookup + torch.compile where it pays), label2city_1024p with random
weights and instance features, full frames of one synthetic street scene.

    P2PHD_CACHE=/tmp/p2phd-bench-cache python tests/bench/bench_openvino.py --size 2048x1024 --rounds 3

Set-up (conversion / compile / warm-up) is timed separately; each round runs every contender once, in a
rotating order, and the table reports min and median s/frame, speed-up vs eager fp32 and PSNR vs it.
A converted IR is reused from the cache on a second run (delete the cache dir to time a conversion)."""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch
from p2phd.models.engine.benchmark import psnr, random_bundle, synthetic_scene
from p2phd.models.engine.engine import Engine, lookup_for, precision_for
from p2phd.models.engine.precision import Precision
from p2phd.models.engine.request import EngineRequest
from p2phd.models.vocabulary import parse_size

FP32 = Precision("cpu", torch.float32, channels_last=False)
BF16 = Precision("cpu", torch.bfloat16, channels_last=False)


def contenders(arch: str):
    def default():
        bundle = random_bundle(arch, features=True)
        chosen = precision_for(bundle, "auto", "cpu")
        return Engine(bundle, chosen, "auto", lookup=lookup_for("auto", chosen))

    return {
        "eager fp32": lambda: Engine(random_bundle(arch, features=True), FP32, "eager"),
        "openvino bf16": lambda: Engine(random_bundle(arch, features=True), BF16, "openvino"),
        "ours default (auto)": default,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--arch", default="label2city_1024p")
    p.add_argument("--size", type=parse_size, default=(2048, 1024))
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--json", metavar="OUT")
    args = p.parse_args()
    w, h = args.size
    label, inst = synthetic_scene(w, h)
    request = EngineRequest(label, inst, revision=1)
    engines, setup, images, times = {}, {}, {}, {}
    for name, make in contenders(args.arch).items():
        t0 = time.perf_counter()
        engines[name] = make()
        images[name] = engines[name].full_frame(request).image  # first frame: conversion / compile included
        setup[name] = time.perf_counter() - t0
        times[name] = []
        print(f"set-up + first frame {name}: {setup[name]:.1f} s ({engines[name].backend_used})", flush=True)
    names = list(engines)
    for r in range(args.rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            t0 = time.perf_counter()
            images[name] = engines[name].full_frame(request).image
            times[name].append(time.perf_counter() - t0)
            print(f"round {r + 1} {name}: {times[name][-1]:.2f} s", flush=True)
    ref = statistics.median(times["eager fp32"])
    rows = {
        name: {
            "min_s": min(t),
            "median_s": statistics.median(t),
            "speedup_vs_fp32_median": ref / statistics.median(t),
            "psnr_vs_fp32_db": psnr(images[name], images["eager fp32"]),
            "setup_first_frame_s": setup[name],
            "backend_used": engines[name].backend_used,
        }
        for name, t in times.items()
    }
    ov = engines["openvino bf16"]._openvino
    report = {
        "size": f"{w}x{h}",
        "arch": args.arch,
        "rounds": args.rounds,
        "torch_threads": torch.get_num_threads(),
        "openvino_precision_used": ov.precision_used,
        "openvino_conversions_this_run": ov.converted,
        "contenders": rows,
    }
    print(json.dumps(report, indent=2))
    if args.json:
        with open(args.json, "w") as f:
            f.write(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
