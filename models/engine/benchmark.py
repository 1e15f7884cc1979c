"""What ``p2phd bench`` measures, as plain functions returning a dict (the CLI only formats it)."""

from __future__ import annotations

import gc
import resource
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from p2phd.models.checkpoint.bundle import Bundle
from p2phd.models.checkpoint.loader import load_bundle
from p2phd.models.config import ARCHS
from p2phd.models.engine.device import applied, backend_flags, peak_gpu_memory_gib, synchronizer
from p2phd.models.engine.engine import Engine, fast_path_for, lookup_for, precision_for
from p2phd.models.engine.precision import Precision
from p2phd.models.engine.request import EngineRequest
from p2phd.models.inputs.network_input import encode_input, feature_map
from p2phd.models.mapfiles.to_image import to_uint8_image

CAR = 26


def synthetic_scene(w: int, h: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Sky, buildings, road, sidewalk and a row of cars (instances 26000+n): a street-like map."""
    rng = np.random.default_rng(seed)
    label = np.full((h, w), 23, np.uint8)  # sky
    label[h // 5 : h // 2] = 11  # building
    label[h // 2 :] = 7  # road
    label[h // 2 : h // 2 + h // 12] = 8  # sidewalk
    inst = label.astype(np.int32)
    for n in range(6):
        cw, ch = w // 10, h // 8
        x, y = int(rng.integers(0, w - cw)), int(rng.integers(h // 2, h - ch))
        label[y : y + ch, x : x + cw] = CAR
        inst[y : y + ch, x : x + cw] = CAR * 1000 + n
    return label, inst


def random_bundle(arch: str, seed: int = 0, features: bool = False, k: int = 10) -> Bundle:
    if arch not in ARCHS:
        raise ValueError(f"unknown --arch {arch!r}; choose from {', '.join(ARCHS)}")
    cfg = ARCHS[arch].replace(instance_feat=features)
    torch.manual_seed(seed)
    G, E = cfg.build_G().eval(), cfg.build_E().eval()
    rng = np.random.default_rng(seed)
    clusters = (
        {c: rng.normal(size=(k, cfg.feat_num)).astype(np.float32) for c in (7, 8, 11, 23, CAR)} if features else {}
    )
    return Bundle(cfg, G, E, clusters)


def _stats(times: list[float]) -> dict[str, float]:
    return {"median": statistics.median(times), "min": min(times), "max": max(times), "n": len(times)}


def _timed(
    fn: Callable[[], object], repeat: int, sync: Callable[[], None] = lambda: None
) -> tuple[list[float], object]:
    """Seconds per call; ``sync`` (see ``device.synchronizer``) makes a GPU's queued work count."""
    times, out = [], None
    for _ in range(repeat):
        sync()
        t0 = time.perf_counter()
        out = fn()
        sync()
        times.append(time.perf_counter() - t0)
    return times, out


def peak_rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # Linux: KiB


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def run_benchmark(
    load: Callable[[], Bundle],
    size: tuple[int, int],
    repeat: int = 3,
    reference_repeat: int = 2,
    device: str = "auto",
    precision: str = "auto",
    backend: str = "auto",
    threads: int | None = None,
    log: Callable[[str], None] = print,
) -> dict:
    w, h = size
    if threads:
        torch.set_num_threads(threads)  # engine and reference alike
    report: dict = {"size": f"{w}x{h}", "torch": torch.__version__, "threads": torch.get_num_threads()}
    t0 = time.perf_counter()
    bundle = load()
    chosen = precision_for(bundle, precision, device)
    sync = synchronizer(chosen.device)
    if chosen.device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    fast = fast_path_for(precision, chosen, backend)  # what p2phd synthesize runs by default
    engine = Engine(bundle, chosen, backend, lookup=lookup_for(precision, chosen), fast_path=fast)
    report.update(
        load_s=time.perf_counter() - t0,
        device=chosen.device,
        precision=chosen.name,
        backend_requested=engine.backend,
        channels_last=chosen.channels_last,
    )
    log(f"loaded in {report['load_s']:.2f}s: {chosen.device} {chosen.name}")
    report["warmup_s"] = engine.warm_up((w, h))
    report["backend"] = engine.backend_used
    log(f"warm-up {report['warmup_s']:.2f}s ({engine.backend_used})")

    label, inst = synthetic_scene(w, h)
    request = EngineRequest(label, inst, revision=1)
    times, result = _timed(lambda: engine.run(request), repeat, sync)
    report["engine_full_s"] = _stats(times)
    log(f"engine full frame median {report['engine_full_s']['median']:.3f}s")

    brush = min(64, w, h)  # a 64-px brush dab (smaller only for toy frame sizes)
    dab_times, rng, revision = [], np.random.default_rng(1), 1
    for _ in range(max(repeat, 5)):
        x, y = int(rng.integers(0, w - brush + 1)), int(rng.integers(0, h - brush + 1))
        label[y : y + brush, x : x + brush] = 11
        inst[y : y + brush, x : x + brush] = 11
        revision += 1
        dab = EngineRequest(label, inst, revision=revision, dirty=(x, y, x + brush, y + brush), preview=True)
        dab_times += _timed(lambda dab=dab: engine.run(dab), 1, sync)[0]
    report["dab64_preview_s"] = _stats(dab_times) if engine.local else None
    report["dab_px"] = brush
    if engine.config.instance_feat and engine.bundle.clusters:
        scene_label, scene_inst = synthetic_scene(w, h)  # the scene before the dabs
        ids, counts = np.unique(scene_inst[scene_inst // 1000 == CAR], return_counts=True)
        biggest = int(ids[np.argmax(counts)])
        car = EngineRequest(scene_label, scene_inst, revision=revision + 1)
        engine.run(car)
        times, _ = _timed(lambda: engine.style_previews(car, biggest), repeat, sync)
        report["style_previews_s"] = _stats(times)
        report["style_previews_k"] = len(engine.bundle.clusters[CAR])
    report["peak_rss_engine_gib"] = peak_rss_gib()
    report["peak_gpu_mem_engine_gib"] = peak_gpu_memory_gib(chosen.device)  # None off CUDA
    log(
        f"dab preview median {report['dab64_preview_s'] and report['dab64_preview_s']['median']}s; "
        f"style previews {report.get('style_previews_s')}"
    )

    engine_image = result.image
    engine = None  # free its memory before the fp32 reference loads
    gc.collect()
    if reference_repeat > 0:
        # same weights again, eager fp32 NCHW (NVIDIA's way) on the engine's device, IEEE fp32 on CUDA
        bundle = load()
        label, inst = synthetic_scene(w, h)  # the map the engine's full frames used
        feat = feature_map(inst, bundle.clusters, bundle.config.feat_num) if bundle.config.instance_feat else None
        x = encode_input(bundle.config, label, inst, feat, device=chosen.device)
        G = bundle.G.to(chosen.device)
        reference = Precision(chosen.device, torch.float32, channels_last=False)
        with torch.inference_mode(), applied(backend_flags(reference)):
            times, out = _timed(lambda: G(x), reference_repeat, sync)
        report["fp32_device"] = chosen.device
        report["fp32_full_s"] = _stats(times)
        report["psnr_db"] = psnr(engine_image, to_uint8_image(out[0]))
        report["speedup"] = report["fp32_full_s"]["median"] / report["engine_full_s"]["median"]
        log(
            f"eager fp32 median {report['fp32_full_s']['median']:.3f}s, speed-up {report['speedup']:.2f}x, "
            f"PSNR {report['psnr_db']:.1f} dB"
        )
    report["peak_rss_gib"] = peak_rss_gib()
    report["peak_gpu_mem_gib"] = peak_gpu_memory_gib(chosen.device)
    return report


def loader(checkpoint: str | None, arch: str | None, features: bool) -> Callable[[], Bundle]:
    if checkpoint:
        return lambda: load_bundle(Path(checkpoint), "cpu")
    return lambda: random_bundle(arch or "label2city_1024p", features=features)
