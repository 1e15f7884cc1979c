"""One full frame of NVIDIA's label2city_1024p generator (random weights, instance features) on a GPU, the
ways a CUDA user can run it, side by side on one card (issue 11, item 6):

- eager fp32 with TF32 off (NVIDIA's numbers; the reference of every PSNR),
- eager fp16, channels_last (the engine's CUDA default, ``p2phd synthesize --device cuda``),
- the same replayed as a CUDA graph (no launch gaps),
- torch.compile (inductor) of the fp16 generator, when time is left (its compile takes a while);
- diagnostics of the engine's fp16 frame being slower than its fp32 one on an H100 (95 vs 77 ms, the bare
  fp16 generator 42 ms): fp16 NCHW, and the generator with the engine's statistics-recording norms
  (channels_last kept through them); ``--profile`` prints the CUDA kernels that take the time.

Each line is printed as soon as it is measured, so a run stopped by a time limit keeps what it measured.
Median of ``--repeat`` timed frames after warm-up, CUDA events. Usage (on a GPU machine):

    python tests/bench/bench_cuda_frame.py [--size 2048x1024] [--repeat 50] [--no-compile] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np
import torch
from p2phd.models.engine.benchmark import psnr, random_bundle
from p2phd.models.engine.norm import replace_instance_norms
from p2phd.models.inputs.network_input import encode_input
from p2phd.models.mapfiles.to_image import to_uint8_image


def frame_input(cfg, w: int, h: int, device) -> torch.Tensor:
    """A street-like layout with 20 cars and random features, encoded as the engine feeds G."""
    rng = np.random.default_rng(0)
    label = np.full((h, w), 7, np.uint8)
    label[: h // 3] = 23
    label[h // 3 : h // 2] = 11
    inst = label.astype(np.int32)
    cw, ch = w // 11, h // 13
    for n in range(20):
        x, y = int(rng.integers(0, w - cw)), int(rng.integers(h // 2, h - ch))
        label[y : y + ch, x : x + cw] = 26
        inst[y : y + ch, x : x + cw] = 26000 + n
    feats = (rng.standard_normal((cfg.feat_num, h, w)) * 0.1).astype(np.float32)
    return encode_input(cfg, label, inst, feats, device=device)


def generator_copy(cfg, G32, dev, dtype, memory_format, engine_norms: bool = False):
    """G32's weights in ``dtype`` / ``memory_format``; ``engine_norms``: its instance norms recording their
    statistics, as in every full frame of the engine."""
    G = cfg.build_G().to(dev).eval()
    G.load_state_dict(G32.state_dict())
    if engine_norms:
        for norm in replace_instance_norms(G):
            norm.mode = "record"
    return G.to(dtype).to(memory_format=memory_format)


def time_it(fn, repeat: int) -> list[float]:
    for _ in range(3):
        fn()
    if not torch.cuda.is_available():  # --device cpu: a smoke test of this script, not a measurement
        times = []
        for _ in range(repeat):
            t = time.perf_counter()
            fn()
            times.append((time.perf_counter() - t) * 1e3)
        return times
    torch.cuda.synchronize()
    times = []
    for _ in range(repeat):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
    return times


def summary(logs: str) -> None:
    """The lines worth reading of a device run's two bench JSONs (train_on_gpu.sh prints them last)."""
    from pathlib import Path

    for name in ("bench_engine_cuda.json", "bench_cuda_frame.json"):
        path = Path(logs) / name
        if not path.is_file():
            print(f"{name}: not written")
            continue
        r = json.loads(path.read_text())
        if "rows" in r:
            for row_name, row in r["rows"].items():
                print(f"{row_name:34s} {row['median_ms']:8.2f} ms (min {row['min_ms']:.2f}) {row['psnr_db']:.1f} dB")
        else:
            keep = ("device", "precision", "backend", "psnr_db", "speedup", "warmup_s", "peak_gpu_mem_engine_gib")
            print({k: r.get(k) for k in keep}, {k: r.get(k) for k in r if k.endswith("_s") and isinstance(r[k], dict)})


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", default="2048x1024")
    p.add_argument("--repeat", type=int, default=50)
    p.add_argument("--no-compile", action="store_true")
    p.add_argument("--json", default=None)
    p.add_argument("--device", default="cuda", help="cpu: only to check this script runs")
    p.add_argument("--summary", metavar="DIR", help="only print the figures of the JSONs in DIR")
    p.add_argument("--profile", action="store_true", help="top CUDA kernels of the fp16 variants")
    args = p.parse_args()
    if args.summary:
        return summary(args.summary)
    w, h = map(int, args.size.split("x"))
    dev = torch.device(args.device)
    bundle = random_bundle("label2city_1024p", features=True)  # what p2phd bench --arch ... --features runs
    cfg, G32 = bundle.config, bundle.G.to(dev).eval()
    x = frame_input(cfg, w, h, dev)
    gpu = torch.cuda.get_device_name() if dev.type == "cuda" else "cpu"
    report = {"gpu": gpu, "torch": torch.__version__, "size": args.size, "rows": {}}
    print(f"{report['gpu']}, torch {torch.__version__}, {args.size}", flush=True)

    def row(name, times, out, extra=None):
        med = statistics.median(times)
        db = psnr(to_uint8_image(out[0]), to_uint8_image(ref[0]))  # 8-bit frames, as p2phd bench compares them
        r = {"median_ms": med, "min_ms": min(times), "psnr_db": db, **(extra or {})}
        report["rows"][name] = r
        print(f"{name:32s} median {med:8.2f} ms  min {min(times):8.2f} ms  PSNR {r['psnr_db']:.1f} dB", flush=True)

    torch.backends.cudnn.benchmark = True
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    with torch.inference_mode():
        ref = G32(x)
        row("eager fp32 (TF32 off)", time_it(lambda: G32(x), max(5, args.repeat // 5)), ref)
        half = torch.float16 if dev.type == "cuda" else torch.bfloat16
        G16 = generator_copy(cfg, G32, dev, half, torch.channels_last)
        x16 = x.to(half).contiguous(memory_format=torch.channels_last)
        out16 = G16(x16)
        row("eager fp16 channels_last", time_it(lambda: G16(x16), args.repeat), out16)
        nchw = x16.contiguous()
        G16n = generator_copy(cfg, G32, dev, half, torch.contiguous_format)
        row("eager fp16 NCHW", time_it(lambda: G16n(nchw), args.repeat), G16n(nchw))
        Geng = generator_copy(cfg, G32, dev, half, torch.channels_last, engine_norms=True)
        row("fp16 channels_last, engine norms", time_it(lambda: Geng(x16), args.repeat), Geng(x16))
        Geng_nchw = generator_copy(cfg, G32, dev, half, torch.contiguous_format, engine_norms=True)
        row("fp16 NCHW, engine norms", time_it(lambda: Geng_nchw(nchw), args.repeat), Geng_nchw(nchw))
        if args.profile:
            for name, fn in (("bare fp16 channels_last", lambda: G16(x16)), ("engine norms", lambda: Geng(x16))):
                with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CUDA]) as prof:
                    fn()
                    torch.cuda.synchronize()
                print(f"--- {name}")
                print(prof.key_averages().table(sort_by="cuda_time_total", row_limit=12, max_name_column_width=70))
        if dev.type != "cuda":
            return

        static_out = None
        stream = torch.cuda.Stream()
        stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream):
            for _ in range(3):
                G16(x16)
        torch.cuda.current_stream().wait_stream(stream)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            static_out = G16(x16)
        row("fp16 channels_last + CUDA graph", time_it(graph.replay, args.repeat), static_out)

    if not args.no_compile:
        t0 = time.time()
        compiled = torch.compile(G16, mode="max-autotune-no-cudagraphs")
        with torch.inference_mode():
            out = compiled(x16)
            compile_s = time.time() - t0
            print(f"compile: {compile_s:.0f} s", flush=True)
            row(
                "fp16 torch.compile (inductor)",
                time_it(lambda: compiled(x16), args.repeat),
                out,
                {"compile_s": compile_s},
            )
    peak = torch.cuda.max_memory_allocated() / 2**30 if dev.type == "cuda" else 0.0
    report["peak_gib"] = peak
    print(f"peak GPU memory {peak:.1f} GiB", flush=True)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(report, fh, indent=2)


if __name__ == "__main__":
    main()
