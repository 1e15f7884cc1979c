"""The one-hot input convolutions as a per-key lookup: equal to the convolution within fp32 rounding."""

import numpy as np
import pytest
import torch
from p2phd.models.checkpoint.bundle import Bundle
from p2phd.models.config import ModelConfig
from p2phd.models.engine.engine import Engine
from p2phd.models.engine.onehot_lut import OneHotConv, install
from p2phd.models.engine.precision import select_precision
from p2phd.models.engine.request import EngineRequest
from p2phd.models.inputs.network_input import encode_input, feature_map
from torch import nn


def _maps(h=32, w=64, seed=0):
    rng = np.random.default_rng(seed)
    label = np.repeat(np.repeat(rng.integers(0, 6, (h // 8, w // 8)), 8, 0), 8, 1).astype(np.uint8)
    inst = label.astype(np.int32) * 1000
    inst[4:12, 10:30] += 1  # an object spanning label blocks
    return label, inst


def _input(cfg, seed=0):
    label, inst = _maps(seed=seed)
    clusters = {c: np.random.default_rng(c).normal(size=(3, cfg.feat_num)).astype(np.float32) for c in range(6)}
    feat = feature_map(inst, clusters, cfg.feat_num) if cfg.instance_feat else None
    return encode_input(cfg, label, inst, feat)


CFG = ModelConfig(
    label_nc=6,
    feat_num=3,
    instance_feat=True,
    ngf=4,
    netG="local",
    n_blocks_global=1,
    n_blocks_local=1,
    n_downsample_global=1,
    n_local_enhancers=1,
)


@pytest.mark.parametrize("pooled", [False, True])
def test_lookup_equals_conv(pooled):
    torch.manual_seed(0)
    x = _input(CFG)
    if pooled:  # G1's input: avg-pooled one-hot mixes keys at boundaries
        x = nn.AvgPool2d(3, stride=2, padding=[1, 1], count_include_pad=False)(x)
    pad, conv = nn.ReflectionPad2d(3), nn.Conv2d(x.shape[1], 5, 7)
    lut = OneHotConv(pad, conv)
    with torch.no_grad():
        want, got = conv(pad(x)), lut(x)
    assert lut.last_keys > 1
    assert got.shape == want.shape
    torch.testing.assert_close(got, want, atol=2e-5, rtol=1e-5)


def test_falls_back_to_conv_with_too_many_keys():
    torch.manual_seed(0)
    x = torch.randn(1, 4, 16, 20)
    pad, conv = nn.ReflectionPad2d(3), nn.Conv2d(4, 3, 7)
    lut = OneHotConv(pad, conv, max_keys=10)
    with torch.no_grad():
        got = lut(x)
    assert lut.last_keys == 0
    torch.testing.assert_close(got, conv(pad(x)))


def test_batch_and_single_key_frame():
    x = torch.zeros(2, 3, 12, 12)
    x[0, 1] = 1  # one key everywhere
    x[1, 2, :, :5] = 1
    pad, conv = nn.ReflectionPad2d(3), nn.Conv2d(3, 2, 7)
    lut = OneHotConv(pad, conv)
    with torch.no_grad():
        torch.testing.assert_close(lut(x), conv(pad(x)), atol=2e-5, rtol=1e-5)


def test_install_keeps_parameter_names_and_output():
    torch.manual_seed(0)
    G = CFG.build_G().eval()
    keys = list(G.state_dict())
    x = _input(CFG)
    with torch.no_grad():
        want = G(x)
        assert len(install(G)) == 2  # G1's first conv and the enhancer's
        got = G(x)
    assert list(G.state_dict()) == keys
    torch.testing.assert_close(got, want, atol=1e-4, rtol=1e-4)


def test_engine_uses_lookup_for_bf16_only_and_stays_close():
    torch.manual_seed(0)
    label, inst = _maps()

    def engine(precision, lookup=None):
        torch.manual_seed(0)
        bundle = Bundle(CFG, CFG.build_G().eval(), None, {})
        return Engine(bundle, select_precision(precision, "cpu"), "eager", lookup=lookup)

    assert engine("fp32").lookups == []  # fp32 stays NVIDIA's conv, bit for bit
    assert len(engine("bf16").lookups) == 2
    request = EngineRequest(label, inst, revision=1)
    ref = engine("fp32").run(request).image.astype(float)
    with_lut = engine("fp32", lookup=True)
    assert len(with_lut.lookups) == 1  # fp32: only the full-resolution input conv
    assert np.abs(with_lut.run(request).image.astype(float) - ref).max() <= 1


def test_auto_precision_avoids_cpu_bf16_for_narrow_generators():
    from p2phd.models.engine.engine import cpu_bf16_pays

    bf16, fp32 = select_precision("bf16", "cpu"), select_precision("fp32", "cpu")
    assert not cpu_bf16_pays(16, bf16)  # the demo model
    assert cpu_bf16_pays(32, bf16)  # label2city_1024p
    assert cpu_bf16_pays(16, fp32)


def test_lookup_for_auto_only():
    from p2phd.models.engine.engine import lookup_for

    fp32 = select_precision("fp32", "cpu")
    assert lookup_for("auto", fp32) is True
    assert lookup_for("fp32", fp32) is None  # explicit fp32: NVIDIA's conv, the engine's default


def test_mixed_windows_match_a_brute_force_window_scan():
    from p2phd.models.engine.onehot_lut import mixed_windows

    rng = np.random.default_rng(3)
    keys = np.repeat(np.repeat(rng.integers(0, 4, (5, 9)), 6, 0), 5, 1).astype(np.float32)  # 30 x 45
    k, r = 7, 3
    padded = torch.nn.functional.pad(torch.from_numpy(keys)[None, None], (r, r, r, r), mode="reflect")[0, 0]
    got = mixed_windows(padded, k).numpy()
    p = padded.numpy()
    want = np.array([[np.ptp(p[y : y + k, x : x + k]) > 0 for x in range(keys.shape[1])] for y in range(keys.shape[0])])
    assert got.shape == keys.shape and np.array_equal(got, want) and 0 < want.mean() < 1


@pytest.mark.parametrize("shape", [(3, 16, 24), (2, 15, 9), (1, 1, 1), (5, 2, 7)])
def test_strided_sum_pool_is_nvidias_input_pool(shape):
    from p2phd.models.engine.backends.stems import avg_pool_3x3_stride2

    src = torch.randn(*shape)
    want = nn.AvgPool2d(3, stride=2, padding=[1, 1], count_include_pad=False)(src[None])[0]
    out = torch.full(want.shape, float("nan"))
    avg_pool_3x3_stride2(src, out, torch.empty(2, (shape[1] + 1) // 2, shape[2]))  # 2 channels per pass
    torch.testing.assert_close(out, want, atol=1e-6, rtol=1e-6)


def test_buffered_stems_reuse_their_memory_and_keep_no_stale_values():
    from p2phd.models.engine.backends.stems import Stems

    G = CFG.build_G().eval()
    plain, buffered = Stems(G), Stems(G, reuse_buffers=True)
    with torch.inference_mode():
        first = buffered(_input(CFG, seed=0))[0]
        pointers = [t.data_ptr() for t in first]
        x = _input(CFG, seed=1)  # another layout: every output value changes
        second = buffered(x)[0]
        want = plain(x)[0]
    assert [t.data_ptr() for t in second] == pointers  # the same buffers, written again
    assert all(conv.last_keys > 1 for conv in buffered.convs)  # lookups, not the conv fallback
    for got, ref in zip(second, want, strict=True):
        torch.testing.assert_close(got, ref, atol=2e-5, rtol=1e-5)


def test_reserved_buffers_are_the_ones_the_first_frame_writes():
    from p2phd.models.engine.backends.stems import Stems

    G = CFG.build_G().eval()
    x = _input(CFG, seed=2)
    buffered = Stems(G, reuse_buffers=True)
    buffered.reserve(tuple(x.shape))  # what the OpenVINO backend does when it compiles for a size
    reserved = {name: t.data_ptr() for name, t in buffered._buffers.items()}
    assert any(name.startswith("pooled") for name in reserved) and any(name.startswith("stem") for name in reserved)
    with torch.inference_mode():
        got = buffered(x)[0]
        want = Stems(G)(x)[0]
    assert {name: t.data_ptr() for name, t in buffered._buffers.items()} == reserved  # nothing allocated in the frame
    for a, b in zip(got, want, strict=True):
        torch.testing.assert_close(a, b, atol=2e-5, rtol=1e-5)
