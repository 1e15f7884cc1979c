"""A stem's instance norm + ReLU applied to its one-hot lookup (models/engine/backends/stem_norm.py)."""

import pytest
import torch
import torch.nn.functional as F
from p2phd.models.engine.backends.stem_norm import norm_relu_dense_into, norm_relu_lookup_into
from p2phd.models.engine.backends.stems import Stems
from p2phd.models.engine.onehot_lut import OneHotConv
from p2phd.models.networks.generator import LocalEnhancer
from torch import nn


def _one_hot_scene(h=40, w=60, classes=10, seed=0):
    """Two large regions (single-key windows) and a noisy band (mixed windows) of one-hot labels."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.full((h, w), 3)
    labels[:, w // 2 :] = 7
    labels[h // 3 : h // 2] = torch.randint(0, classes, (h // 2 - h // 3, w), generator=g)
    return F.one_hot(labels, classes).permute(2, 0, 1)[None].float()


def norm_relu_into(lut, x, out, eps):
    """What the stems do for one level: the lookup where it applies, else the conv."""
    found = lut.keys(x)
    if found is None:
        return norm_relu_dense_into(lut.conv(x), out, eps)
    return norm_relu_lookup_into(lut.parts(found, *x.shape[2:]), out, eps)


def _reference(pad, conv, x, eps=1e-5):
    y = conv(pad(x))
    var, mean = torch.var_mean(y[0].flatten(1), dim=1, unbiased=False)
    return F.relu(F.instance_norm(y, eps=eps))[0].flatten(1).T, mean, var  # (H*W, C), C, C


@pytest.mark.parametrize("fallback", [False, True])
def test_normalized_lookup_is_relu_of_the_instance_norm_of_the_conv(fallback):
    torch.manual_seed(0)
    pad, conv = nn.ReflectionPad2d(3), nn.Conv2d(10, 8, 7)
    lut = OneHotConv(pad, conv, max_keys=1 if fallback else 8192)
    x = _one_hot_scene()
    with torch.no_grad():
        want, want_mean, want_var = _reference(pad, conv, x)
        out = torch.full((40 * 60, 8), float("nan"))
        mean, var = norm_relu_into(lut, x, out, 1e-5)
    assert (lut.last_keys == 0) == fallback
    torch.testing.assert_close(out, want, atol=2e-6, rtol=1e-5)
    torch.testing.assert_close(mean, want_mean, atol=2e-6, rtol=1e-5)
    torch.testing.assert_close(var, want_var, atol=2e-6, rtol=1e-5)


def test_a_bf16_output_is_the_fp32_result_rounded():
    torch.manual_seed(1)
    pad, conv = nn.ReflectionPad2d(3), nn.Conv2d(10, 16, 7)
    lut = OneHotConv(pad, conv)
    x = _one_hot_scene(seed=1)
    with torch.no_grad():
        want = _reference(pad, conv, x)[0]
        out = torch.empty(40 * 60, 16, dtype=torch.bfloat16)
        norm_relu_into(lut, x, out, 1e-5)
    assert lut.last_keys > 0
    # one bf16 step at most (a value within fp32 rounding of a rounding boundary may round the other way)
    step = want.abs().clamp_min(1e-30) * 2.0**-8
    assert ((out.float() - want).abs() <= step).all()
    assert (out.float() == want.to(torch.bfloat16).float()).float().mean() > 0.99


def test_stems_hand_over_the_blocks_after_their_relu_and_their_norms_statistics():
    torch.manual_seed(0)
    G = LocalEnhancer(10, 3, ngf=8, n_downsample_global=2, n_blocks_global=1, n_blocks_local=1).eval()
    x = _one_hot_scene(32, 64)
    with torch.no_grad():
        outputs, stats = Stems(G, dtype=torch.bfloat16)(x)
        levels = [F.avg_pool2d(x, 3, 2, 1, count_include_pad=False), x]
        for seq, level, got, (mean, var) in zip([G.model, G.enhancer(1)[0]], levels, outputs, stats, strict=True):
            want = seq[:4](level)  # pad, conv, norm, ReLU
            assert got.dtype == torch.bfloat16 and got.is_contiguous(memory_format=torch.channels_last)
            assert (got.float() - want).abs().max() <= want.abs().max() * 2.0**-8
            y = seq[:2](level)
            torch.testing.assert_close(mean, y.mean((0, 2, 3)), atol=1e-5, rtol=1e-5)
            torch.testing.assert_close(var, y.var((0, 2, 3), unbiased=False), atol=1e-5, rtol=1e-5)


def test_stems_refuse_a_block_they_cannot_normalize():
    G = LocalEnhancer(10, 3, ngf=8, n_downsample_global=2, n_blocks_global=1, n_blocks_local=1)
    G.model[2] = nn.InstanceNorm2d(16, affine=True)
    with pytest.raises(ValueError, match="instance norm"):
        Stems(G)


def test_buffered_stems_pool_only_the_channels_a_frame_sets_and_keep_no_stale_ones():
    """The kept buffers pool only the input channels some key sets (the others are zero everywhere); a frame
    with other classes after it must not see the last frame's channels."""
    torch.manual_seed(0)
    G = LocalEnhancer(10, 3, ngf=8, n_downsample_global=2, n_blocks_global=1, n_blocks_local=1).eval()
    buffered, plain = Stems(G, reuse_buffers=True), Stems(G)
    frames = [_one_hot_scene(32, 64, seed=0), F.one_hot(torch.full((32, 64), 9), 10).permute(2, 0, 1)[None].float()]
    frames[1][:, :, :, :20] = 0  # one class and a band of all-zero pixels: two keys, one channel set
    with torch.no_grad():
        for x in frames:
            got, got_stats = buffered(x)
            want, want_stats = plain(x)
            for a, b in zip(got, want, strict=True):
                torch.testing.assert_close(a, b, atol=2e-5, rtol=1e-5)
            for a, b in zip(got_stats, want_stats, strict=True):
                torch.testing.assert_close(a, b, atol=2e-5, rtol=1e-5)
    assert buffered._buffers["pooled0"].shape[1] == 10  # the buffer keeps every channel's room
