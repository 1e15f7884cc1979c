"""GPU-path logic run on the CPU: crop grid, compile decision, TF32 off for fp32, MPS statistics dtype,
channels_last through the norms, synchronised timings, MPS-safe instance averaging, a meta-device smoke test."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from p2phd.models.config import ARCHS
from p2phd.models.engine import device as device_mod
from p2phd.models.engine import engine as engine_mod
from p2phd.models.engine import incremental
from p2phd.models.engine import previews as previews_mod
from p2phd.models.engine.device import applied, backend_flags, crop_grid, peak_gpu_memory_gib, synchronizer
from p2phd.models.engine.engine import COMPILE_MIN_PIXELS, Engine, should_compile
from p2phd.models.engine.norm import CachedStatsInstanceNorm
from p2phd.models.engine.precision import HardwareFacts, Precision, select_precision
from p2phd.models.engine.request import EngineRequest
from p2phd.models.networks.instance_encoder import average_method, instance_average
from test_engine import CAR, FP32, dab, scene, tiny_bundle, tiny_config

CUDA_FP16 = Precision("cuda", torch.float16)
CUDA_FP32 = Precision("cuda", torch.float32)


# -- A1: preview crops on a grid -----------------------------------------------------------------------------
def stroke_rects(w, h, brush=12, dabs=300, seed=0):
    """Dirty rectangles of a wandering mouse stroke: each is the segment from the last dab to this one."""
    rng = np.random.default_rng(seed)
    x, y, rects = w / 2, h / 2, []
    for _ in range(dabs):
        nx = float(np.clip(x + rng.normal(0, 9), brush, w - brush))
        ny = float(np.clip(y + rng.normal(0, 9), brush, h - brush))
        rects.append(
            (int(min(x, nx)) - brush, int(min(y, ny)) - brush, int(max(x, nx)) + brush, int(max(y, ny)) + brush)
        )
        x, y = nx, ny
    return rects


def test_preview_crops_over_a_stroke_come_from_a_small_fixed_set():
    cfg = ARCHS["label2city_1024p"].replace(ngf=2)  # the 1024p enhancer's topology, tiny widths
    G = cfg.build_G()
    radius = incremental.receptive_radius(list(G.enhancer(G.n_local_enhancers)))
    w, h = 2048, 1024
    rects = stroke_rects(w, h)
    raw = {incremental.plan_crop(r, radius, w, h, grid=1)[1] for r in rects}
    raw_shapes = {(x1 - x0, y1 - y0) for x0, y0, x1, y1 in raw}
    shapes = set()
    for rect in rects:
        changed, (x0, y0, x1, y1) = incremental.plan_crop(rect, radius, w, h, incremental.CROP_GRID)
        shapes.add((x1 - x0, y1 - y0))
        assert x0 % 2 == 0 and y0 % 2 == 0 and 0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h
        # the crop still holds the changed rectangle plus the receptive field (or reaches the border)
        assert x0 <= max(0, changed[0] - radius) and x1 >= min(w, changed[2] + radius)
        assert y0 <= max(0, changed[1] - radius) and y1 >= min(h, changed[3] + radius)
    assert all((cw % 64 == 0 or cw == w) and (ch % 64 == 0 or ch == h) for cw, ch in shapes)
    assert len(raw_shapes) > 30  # what cudnn.benchmark re-tuned for before
    assert len(shapes) <= 6


def test_crop_grid_on_gpus_only():
    assert crop_grid(CUDA_FP16) == crop_grid(Precision("mps", torch.float16, norm_dtype=torch.float16)) == 64
    assert crop_grid(FP32) == 1  # the CPU re-tunes nothing: the smallest exact crop is the fastest


def test_grid_crops_at_the_border_stay_exact():
    cfg = tiny_config()
    label, inst = scene(64, 192)
    engine = Engine(tiny_bundle(cfg), FP32, backend="eager")
    engine.crop_grid = incremental.CROP_GRID  # as on a GPU
    engine.run(EngineRequest(label, inst, revision=1))
    label2, inst2, rect = dab(label, inst, 186, 30)  # right border: the grid crop is moved inwards
    preview = engine.run(EngineRequest(label2, inst2, revision=2, dirty=rect, preview=True))
    assert preview.preview
    x0, y0, x1, y1 = preview.region
    assert (x1 - x0) < 64  # a small dab, computed from a 64-px-wide crop moved back inside the frame
    with torch.inference_mode():
        exact = engine.enhance_crops(engine.encode(EngineRequest(label2, inst2)), (0, 0, 192, 64))
    expected = previews_mod.to_uint8_image(exact[0])[y0:y1, x0:x1]
    assert np.abs(preview.image[y0:y1, x0:x1].astype(int) - expected).max() <= 1


# -- A2: compile decision ----------------------------------------------------------------------------------------
def test_auto_compiles_only_cpu_bf16_large_frames_never_cuda():
    big, small = 2048 * 1024, 256 * 128
    assert not should_compile("auto", CUDA_FP16, big)
    assert not should_compile("auto", Precision("cuda", torch.bfloat16), big)
    assert not should_compile("auto", Precision("mps", torch.float16, norm_dtype=torch.float16), big)
    assert should_compile("auto", Precision("cpu", torch.bfloat16, channels_last=False), COMPILE_MIN_PIXELS)
    assert not should_compile("auto", Precision("cpu", torch.bfloat16, channels_last=False), small)
    assert not should_compile("auto", FP32, big)
    assert should_compile("compile", CUDA_FP16, small) and not should_compile("eager", CUDA_FP16, big)
    facts = HardwareFacts(cuda=True, cuda_capability=(9, 0))
    assert not should_compile("auto", select_precision("auto", "auto", facts), big)


# -- A4: IEEE fp32 on CUDA ---------------------------------------------------------------------------------------
def test_fp32_on_cuda_turns_tf32_off_and_fp16_keeps_it():
    assert backend_flags(CUDA_FP32) == {"cudnn_benchmark": True, "fp32_precision": "ieee"}
    assert backend_flags(CUDA_FP16) == {"cudnn_benchmark": True}
    assert backend_flags(FP32) == {}


def tf32_state():
    if device_mod._new_tf32_api():
        return torch.backends.cudnn.conv.fp32_precision, torch.backends.cuda.matmul.fp32_precision
    return torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32


def test_applied_sets_the_flags_and_restores_them():
    before, bench = tf32_state(), torch.backends.cudnn.benchmark
    with applied(backend_flags(CUDA_FP32)):
        assert tf32_state() in (("ieee", "ieee"), (False, False)) and torch.backends.cudnn.benchmark
    assert tf32_state() == before and torch.backends.cudnn.benchmark == bench


def test_the_engine_runs_under_its_flags(monkeypatch):
    cfg = tiny_config()
    engine = Engine(tiny_bundle(cfg), FP32, backend="eager")
    engine.flags = backend_flags(CUDA_FP32)  # what a CUDA fp32 engine gets; the run itself stays on the CPU
    seen = []
    engine.down.register_forward_pre_hook(lambda m, a: seen.append((tf32_state(), torch.backends.cudnn.benchmark)))
    label, inst = scene()
    before = tf32_state()
    engine.run(EngineRequest(label, inst))
    assert seen and seen[0][0] in (("ieee", "ieee"), (False, False)) and seen[0][1] is True
    assert tf32_state() == before
    seen.clear()
    engine.style_previews(EngineRequest(label, inst), CAR * 1000 + 1)
    assert seen and all(s[0] in (("ieee", "ieee"), (False, False)) and s[1] is False for s in seen)


# -- A5 / A7: statistics dtype and channels_last through the norms -----------------------------------------------
def test_mps_fp16_keeps_statistics_in_the_input_dtype_elsewhere_fp32():
    mps = select_precision("fp16", "mps", HardwareFacts(mps=True))
    assert mps.norm_dtype == torch.float16
    cuda = select_precision("fp16", "cuda", HardwareFacts(cuda=True, cuda_capability=(8, 0)))
    assert cuda.norm_dtype == torch.float32
    with pytest.raises(ValueError, match="norm_dtype"):
        Precision("cpu", torch.float32, norm_dtype=torch.float16)


def test_norm_replays_statistics_in_its_stats_dtype(monkeypatch):
    torch.manual_seed(0)
    x = (torch.randn(1, 3, 8, 10) * 3 + 1).half()
    norm = CachedStatsInstanceNorm(3, stats_dtype=torch.float16)
    norm.mode = "record"
    expected = F.instance_norm(x.float())
    torch.testing.assert_close(norm(x).float(), expected, atol=2e-2, rtol=0)
    assert norm.stats[0].dtype == torch.float16
    calls = []
    real = F.batch_norm
    monkeypatch.setattr(F, "batch_norm", lambda x, mean, *a, **k: calls.append(mean.dtype) or real(x, mean, *a, **k))
    norm.mode = "replay"
    torch.testing.assert_close(norm(x[:, :, 2:6, 3:9]).float(), expected[:, :, 2:6, 3:9], atol=2e-2, rtol=0)
    assert calls == [torch.float16]  # fp16 input never meets fp32 statistics (the MPS abort)


@pytest.mark.parametrize("mode", ["compute", "record", "replay"])
def test_norm_keeps_channels_last(mode):
    x = torch.randn(1, 4, 6, 8).contiguous(memory_format=torch.channels_last)
    norm = CachedStatsInstanceNorm(4)
    norm.mode = "record"
    norm(x)
    norm.mode = mode
    out = norm(x)
    assert out.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(out, F.instance_norm(x.contiguous()), atol=1e-5, rtol=1e-5)


def test_engine_passes_norm_dtype_to_its_norms():
    cfg = tiny_config()
    precision = Precision("cpu", torch.float16, norm_dtype=torch.float16, channels_last=True)
    engine = Engine(tiny_bundle(cfg), precision, backend="eager")
    dtypes = {m.stats_dtype for m in engine.G.modules() if isinstance(m, CachedStatsInstanceNorm)}
    assert dtypes == {torch.float16}


# -- A7: synchronised timings, GPU memory, MPS-safe averaging ------------------------------------------------------
def test_synchronizer_waits_for_cuda_only(monkeypatch):
    calls = []
    monkeypatch.setattr(torch.cuda, "synchronize", lambda device=None: calls.append(device))
    synchronizer("cpu")()
    assert calls == []
    synchronizer("cuda")()
    assert len(calls) == 1


def test_engine_synchronizes_between_stages(monkeypatch):
    calls = []
    monkeypatch.setattr(engine_mod, "synchronizer", lambda device: lambda: calls.append(str(device)))
    engine = Engine(tiny_bundle(tiny_config()), FP32, backend="eager")
    label, inst = scene()
    engine.run(EngineRequest(label, inst))
    assert calls == ["cpu", "cpu"]  # after encoding and after the generator
    engine.run(EngineRequest(*dab(label, inst, 60, 40)[:2], dirty=(56, 36, 64, 44), preview=True))
    assert len(calls) == 3


def test_peak_gpu_memory_only_on_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "max_memory_allocated", lambda device=None: 3 * 2**30)
    assert peak_gpu_memory_gib("cpu") is None
    assert peak_gpu_memory_gib("cuda") == 3.0


def test_scatter_averaging_equals_index_add_and_is_chosen_on_mps():
    torch.manual_seed(0)
    features = torch.randn(2, 3, 16, 20)
    inst = torch.randint(0, 5, (2, 1, 16, 20)) * 1000 + 26
    a = instance_average(features, inst, method="index_add")
    b = instance_average(features, inst, method="scatter")
    torch.testing.assert_close(a, b)
    torch.testing.assert_close(instance_average(features, inst), a)
    assert average_method(torch.device("mps")) == "scatter" and average_method(torch.device("cpu")) == "index_add"
    mask = inst[0, 0] == inst[0, 0, 0, 0]
    torch.testing.assert_close(b[0, :, 0, 0], features[0][:, mask].mean(1))


# -- A8: a meta-device smoke test ------------------------------------------------------------------------------------
def test_meta_device_smoke_full_frame_preview_and_style_previews(monkeypatch):
    """Every tensor of a run must live on the engine's device: a CPU tensor meeting a meta one raises."""

    def to_image(tensor):
        assert tensor.device.type == "meta"
        return np.zeros((tensor.shape[-2], tensor.shape[-1], 3), np.uint8)

    monkeypatch.setattr(engine_mod, "to_uint8_image", to_image)
    monkeypatch.setattr(previews_mod, "to_uint8_image", to_image)
    cfg = tiny_config()
    engine = Engine(tiny_bundle(cfg), Precision("meta", torch.float16, channels_last=True), backend="auto")
    assert {p.device.type for p in engine.G.parameters()} == {"meta"}
    label, inst = scene()
    full = engine.run(EngineRequest(label, inst, revision=1))
    assert full.image.shape == (64, 128, 3) and engine.backend_used == "eager"
    label2, inst2, rect = dab(label, inst, 60, 40)
    preview = engine.run(EngineRequest(label2, inst2, revision=2, dirty=rect, preview=True))
    assert preview.preview
    shown, crops = engine.style_previews(EngineRequest(label2, inst2), CAR * 1000 + 1)
    assert len(crops) == 4 and crops[0].shape[:2] == (shown[3] - shown[1], shown[2] - shown[0])


def test_compiled_generator_runs_the_lookup_eagerly_and_matches_eager():
    """torch.compile keeps the one-hot lookup out of its graph (tracing it failed in torch 2.13 with a
    dynamo guard assertion); the compiled frame equals the eager one and the lookup still ran."""
    cfg = tiny_config()
    label, inst = scene()
    frames = {}
    for backend in ("eager", "compile"):
        engine = Engine(tiny_bundle(cfg), FP32, backend=backend, lookup=True)
        frames[backend] = engine.run(EngineRequest(label, inst)).image
        assert engine.lookups and all(m.last_keys > 0 for m in engine.lookups), backend
    diff = np.abs(frames["eager"].astype(int) - frames["compile"].astype(int))
    assert diff.max() <= 1
