"""The RGB output conv split into pixel phases for OpenVINO (models/engine/backends/phase_conv.py)."""

import pytest
import torch
from p2phd.models.engine.backends.phase_conv import PhaseConv, split_output_convs, splittable
from p2phd.models.networks.generator import GlobalGenerator
from torch import nn


@pytest.mark.parametrize("size", [(16, 24), (15, 24), (16, 9)])
def test_phase_conv_is_the_padded_conv(size):
    torch.manual_seed(0)
    pad, conv = nn.ReflectionPad2d(3), nn.Conv2d(6, 3, 7)
    x = torch.randn(1, 6, *size)
    with torch.no_grad():
        expected = conv(pad(x))
        got = PhaseConv(pad, conv)(x)
    assert got.shape == expected.shape
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-5)


def test_only_narrow_stride_one_reflect_padded_convs_are_split():
    assert splittable(nn.ReflectionPad2d(3), nn.Conv2d(16, 3, 7))
    assert not splittable(nn.ReflectionPad2d(3), nn.Conv2d(16, 32, 7))  # wide: the lanes are full already
    assert not splittable(nn.ReflectionPad2d(1), nn.Conv2d(16, 3, 7))  # not a same-size conv
    assert not splittable(nn.ZeroPad2d(3), nn.Conv2d(16, 3, 7))
    assert not splittable(nn.ReflectionPad2d(1), nn.Conv2d(16, 3, 3, stride=2))


def test_a_generator_with_its_output_conv_split_is_the_generator():
    torch.manual_seed(0)
    G = GlobalGenerator(5, 3, ngf=8, n_downsampling=2, n_blocks=1).eval()
    x = torch.randn(1, 5, 32, 64)
    with torch.no_grad():
        expected = G(x)
        assert split_output_convs(G.model) == 1  # the output conv only (the input conv has ngf = 8 outputs)
        assert any(isinstance(m, PhaseConv) for m in G.model)
        torch.testing.assert_close(G(x), expected, rtol=0, atol=1e-5)
