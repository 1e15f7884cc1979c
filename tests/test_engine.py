"""Engine: full frames match the fp32 reference, stroke previews equal the exact crop recompute."""

import numpy as np
import pytest
import tiny
import torch
from p2phd.models.checkpoint.bundle import Bundle
from p2phd.models.config import ModelConfig
from p2phd.models.engine.engine import Engine
from p2phd.models.engine.incremental import crop_of, enhance_crop, plan_crop
from p2phd.models.engine.norm import norm_mode
from p2phd.models.engine.precision import Precision
from p2phd.models.engine.request import EngineRequest
from p2phd.models.errors import CheckpointError, InputMapError
from p2phd.models.mapfiles.to_image import to_uint8_image as tensor2im
from p2phd.models.synthesis import synthesize

CAR = 26
FP32 = Precision("cpu", torch.float32, channels_last=False)


def tiny_config(**changes) -> ModelConfig:
    return tiny.tiny_config(**{"netG": "local", "features": True, "label_nc": 30, **changes})


def tiny_bundle(cfg: ModelConfig, seed: int = 0) -> Bundle:
    torch.manual_seed(seed)
    G, E = cfg.build_G().eval(), cfg.build_E().eval()
    rng = np.random.default_rng(seed)
    clusters = {c: rng.normal(size=(4, cfg.feat_num)).astype(np.float32) for c in (7, 11, CAR)}
    return Bundle(cfg, G, E, clusters)


def scene(h=64, w=128):
    label = np.full((h, w), 7, np.uint8)
    label[: h // 3] = 11
    inst = label.astype(np.int32)
    label[30:50, 20:60] = CAR
    inst[30:50, 20:60] = CAR * 1000 + 1
    return label, inst


@pytest.fixture(scope="module")
def cfg():
    return tiny_config()


def test_full_frame_matches_reference_synthesis(cfg):
    label, inst = scene()
    reference = synthesize(tiny_bundle(cfg), label, inst, size=(128, 64))
    engine = Engine(tiny_bundle(cfg), FP32, backend="eager")
    result = engine.run(EngineRequest(label, inst, revision=3))
    assert result.revision == 3 and result.image.dtype == np.uint8 and result.image.shape == (64, 128, 3)
    assert np.abs(result.image.astype(int) - reference).max() <= 1
    assert set(result.timings) >= {"encode", "generator"}
    small = label[::2, ::2], inst[::2, ::2]  # resized to the requested size exactly as the reference does
    again = synthesize(tiny_bundle(cfg), *small, styles={CAR * 1000 + 1: 2}, size=(128, 64))
    assert np.abs(engine.synthesize(*small, styles={CAR * 1000 + 1: 2}, size=(128, 64)).astype(int) - again).max() <= 1


def dab(label, inst, x, y, r=4, cls=11):
    label, inst = label.copy(), inst.copy()
    label[y - r : y + r, x - r : x + r] = cls
    inst[y - r : y + r, x - r : x + r] = cls
    return label, inst, (x - r, y - r, x + r, y + r)


@pytest.mark.parametrize("where", [(90, 40), (4, 60)])  # interior, and touching the left/bottom border
def test_preview_equals_exact_recompute_with_cached_statistics(cfg, where):
    label, inst = scene()
    engine = Engine(tiny_bundle(cfg), FP32, backend="eager")
    before = engine.run(EngineRequest(label, inst, revision=1)).image
    coarse = engine._coarse.clone()
    label2, inst2, rect = dab(label, inst, *where)
    result = engine.run(EngineRequest(label2, inst2, revision=2, dirty=rect, preview=True))
    assert result.preview and result.revision == 2

    # the input cache, updated only inside the dirty rectangle, equals a fresh encoding
    fresh = engine.encode(EngineRequest(label2, inst2))
    torch.testing.assert_close(engine._input, fresh, rtol=0, atol=0)

    # exact reference: the whole frame through the enhancer with the same coarse features and statistics
    with torch.inference_mode(), norm_mode(engine.down, "replay"), norm_mode(engine.up, "replay"):
        full = enhance_crop(engine.down, engine.up, fresh, coarse, (0, 0, 128, 64))
        changed = (max(0, rect[0] - 1), max(0, rect[1] - 1), min(128, rect[2] + 1), min(64, rect[3] + 1))
        shown, crop = plan_crop(changed, engine.radius, 128, 64)
        patch = enhance_crop(engine.down, engine.up, crop_of(fresh, crop), coarse, crop)
    x0, y0, x1, y1 = shown
    assert result.region == shown
    inner = patch[:, :, y0 - crop[1] : y1 - crop[1], x0 - crop[0] : x1 - crop[0]]
    torch.testing.assert_close(inner, full[:, :, y0:y1, x0:x1], rtol=0, atol=1e-5)

    outside = np.ones((64, 128), bool)
    outside[y0:y1, x0:x1] = False
    assert np.array_equal(result.image[outside], before[outside])  # pasted into the last frame
    assert not np.array_equal(result.image, before)

    # and close to the true full frame (new statistics, new global features)
    truth = Engine(tiny_bundle(cfg), FP32, backend="eager").run(EngineRequest(label2, inst2)).image
    # (random tiny nets react strongly to a dab, so judge against the stale frame, not a fixed dB)
    preview_error = np.mean((result.image.astype(float) - truth) ** 2)
    stale_error = np.mean((before.astype(float) - truth) ** 2)
    assert preview_error < stale_error


def test_preview_without_previous_frame_falls_back_to_full_frame(cfg):
    label, inst = scene()
    engine = Engine(tiny_bundle(cfg), FP32, backend="eager")
    result = engine.run(EngineRequest(label, inst, dirty=(0, 0, 8, 8), preview=True))
    assert not result.preview and result.region is None


def test_batched_style_previews_equal_individual_crops(cfg):
    label, inst = scene()
    engine = Engine(tiny_bundle(cfg), FP32, backend="eager")
    request = EngineRequest(label, inst)
    engine.run(request)
    shown, batch = engine.style_previews(request, CAR * 1000 + 1)
    assert len(batch) == 4 and batch[0].shape == (shown[3] - shown[1], shown[2] - shown[0], 3)
    for i, image in enumerate(batch):
        _, single = engine.style_previews(request, CAR * 1000 + 1, indices=[i])
        assert np.abs(single[0].astype(int) - image).max() <= 1
    assert not np.array_equal(batch[0], batch[1])  # different clusters look different


def test_style_previews_for_global_generator():
    cfg = tiny_config(netG="global", ngf=4)
    engine = Engine(tiny_bundle(cfg), FP32, backend="eager")
    label, inst = scene()
    shown, batch = engine.style_previews(EngineRequest(label, inst), CAR * 1000 + 1, indices=[0, 2])
    assert len(batch) == 2 and shown[0] % 4 == 0


def test_style_preview_errors(cfg):
    label, inst = scene()
    engine = Engine(tiny_bundle(cfg), FP32, backend="eager")
    with pytest.raises(InputMapError, match="not in the instance map"):
        engine.style_previews(EngineRequest(label, inst), CAR * 1000 + 7)
    with pytest.raises(InputMapError, match="out of range"):
        engine.style_previews(EngineRequest(label, inst), CAR * 1000 + 1, indices=[9])


def test_appearance_transfer_gives_one_vector_per_object(cfg):
    label, inst = scene()
    engine = Engine(tiny_bundle(cfg), FP32, backend="eager")
    photo = np.random.default_rng(1).integers(0, 256, (64, 128, 3), dtype=np.uint8)
    styles = engine.encode_appearance(photo, label, inst)
    assert set(styles) == {7, 11, CAR * 1000 + 1}
    assert all(v.shape == (cfg.feat_num,) for v in styles.values())
    result = engine.run(EngineRequest(label, inst, styles=styles))  # usable as a style table
    assert result.image.shape == (64, 128, 3)
    with pytest.raises(InputMapError):
        engine.encode_appearance(photo[:32], label, inst)
    engine.bundle.E = None
    with pytest.raises(CheckpointError):
        engine.encode_appearance(photo, label, inst)


def test_bad_size_is_a_clear_error(cfg):
    engine = Engine(tiny_bundle(cfg), FP32, backend="eager")
    with pytest.raises(InputMapError, match="multiples of 8"):
        engine.run(EngineRequest(np.zeros((30, 64), np.uint8)))


def test_bf16_engine_is_close_to_fp32(cfg):
    label, inst = scene()
    exact = Engine(tiny_bundle(cfg), FP32, backend="eager").run(EngineRequest(label, inst)).image
    fast = Engine(tiny_bundle(cfg), Precision("cpu", torch.bfloat16, channels_last=False), backend="eager")
    image = fast.run(EngineRequest(label, inst)).image
    mse = np.mean((image.astype(float) - exact) ** 2)
    assert 10 * np.log10(255**2 / max(mse, 1e-9)) > 30


def test_engine_behind_the_service_delivers_full_frame_then_preview(cfg):
    from p2phd.models.engine.service import EngineService

    label, inst = scene()
    outcomes = []
    service = EngineService(outcomes.append)
    try:
        service.load(lambda: Engine(tiny_bundle(cfg), FP32, backend="eager"))
        service.render(EngineRequest(label, inst, revision=1))
        assert service.wait_idle(30)
        label2, inst2, rect = dab(label, inst, 60, 40)
        service.render(EngineRequest(label2, inst2, revision=2, dirty=rect, preview=True))
        service.style_previews(EngineRequest(label2, inst2, revision=2), CAR * 1000 + 1, [0, 1])
        assert service.wait_idle(30)
    finally:
        service.close()
    assert [o.error for o in outcomes] == [None] * 4
    results = [o.result for o in outcomes if o.kind == "frame"]
    assert [(r.revision, r.preview) for r in results] == [(1, False), (2, True)]
    assert not results[1].image.flags.writeable
    assert len(outcomes[-1].result[1]) == 2  # style previews ran on the same engine, after the preview


PRECISIONS = {
    "fp32": FP32,
    "bf16": Precision("cpu", torch.bfloat16, channels_last=False),
    "fp16_channels_last": Precision("cpu", torch.float16, channels_last=True),
}


@pytest.mark.parametrize("name", PRECISIONS)
def test_engine_in_each_precision(cfg, name):
    """Full frame near fp32, preview equal to the exact recompute, batched style previews, layout kept."""
    precision = PRECISIONS[name]
    label, inst = scene()
    exact = Engine(tiny_bundle(cfg), FP32, backend="eager").run(EngineRequest(label, inst)).image
    engine = Engine(tiny_bundle(cfg), precision, backend="eager")
    layouts = []
    convs = [m for m in engine.up.modules() if isinstance(m, torch.nn.Conv2d)]
    convs[-1].register_forward_pre_hook(
        lambda m, a: layouts.append(a[0].is_contiguous(memory_format=torch.channels_last) and a[0].stride(1) == 1)
    )
    full = engine.run(EngineRequest(label, inst, revision=1)).image
    mse = np.mean((full.astype(float) - exact) ** 2)
    assert mse == 0 if name == "fp32" else 10 * np.log10(255**2 / max(mse, 1e-9)) > 30
    assert {p.dtype for p in engine.G.parameters()} == {precision.dtype}
    assert layouts == [precision.channels_last]  # the norms before the last conv kept channels_last

    label2, inst2, rect = dab(label, inst, 90, 40)
    preview = engine.run(EngineRequest(label2, inst2, revision=2, dirty=rect, preview=True))
    x0, y0, x1, y1 = preview.region
    with torch.inference_mode():
        whole = engine.enhance_crops(engine.encode(EngineRequest(label2, inst2)), (0, 0, 128, 64))
    reference = tensor2im(whole[0])[y0:y1, x0:x1]
    assert np.abs(preview.image[y0:y1, x0:x1].astype(int) - reference).max() <= (1 if name == "fp32" else 4)

    shown, batch = engine.style_previews(EngineRequest(label2, inst2), CAR * 1000 + 1)
    _, single = engine.style_previews(EngineRequest(label2, inst2), CAR * 1000 + 1, indices=[3])
    assert len(batch) == 4 and np.abs(single[0].astype(int) - batch[3]).max() <= (1 if name == "fp32" else 4)
