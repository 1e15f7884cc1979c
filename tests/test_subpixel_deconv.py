"""NVIDIA's transposed convs as sub-pixel convs for OpenVINO (models/engine/backends/subpixel_deconv.py)."""

import pytest
import torch
from p2phd.models.engine.backends.subpixel_deconv import SubpixelDeconv, is_nvidia_upsampling, replace_deconvs
from p2phd.models.networks.generator import GlobalGenerator, LocalEnhancer
from torch import nn


@pytest.mark.parametrize("size", [(5, 7), (4, 4), (1, 1)])
@pytest.mark.parametrize("bias", [True, False])
def test_subpixel_deconv_is_the_transposed_conv(size, bias):
    torch.manual_seed(0)
    deconv = nn.ConvTranspose2d(6, 4, 3, stride=2, padding=1, output_padding=1, bias=bias).double()
    x = torch.randn(2, 6, *size, dtype=torch.float64)
    with torch.no_grad():
        expected = deconv(x)
        got = SubpixelDeconv(deconv)(x)
    assert got.shape == expected.shape == (2, 4, 2 * size[0], 2 * size[1])
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-12)  # the same products, only summed in another order


def test_the_phase_convs_hold_the_deconvs_taps_and_no_zero_taps():
    """Four phase convs of 1, 2, 2 and 4 taps: the transposed conv's MACs, not a 2 x 2 conv's 16/9 of them."""
    deconv = nn.ConvTranspose2d(6, 4, 3, stride=2, padding=1, output_padding=1)
    layer = SubpixelDeconv(deconv)
    kernels = [getattr(layer, f"w{p}{q}") for p in (0, 1) for q in (0, 1)]
    assert [tuple(k.shape[2:]) for k in kernels] == [(1, 1), (1, 2), (2, 1), (2, 2)]
    assert sum(k.numel() for k in kernels) == deconv.weight.numel()
    taps = torch.cat([k.flatten() for k in kernels]).sort().values
    assert torch.equal(taps, deconv.weight.detach().flatten().sort().values)  # each tap once


def test_only_nvidias_upsampling_layer_is_replaced():
    assert is_nvidia_upsampling(nn.ConvTranspose2d(8, 4, 3, stride=2, padding=1, output_padding=1))
    assert not is_nvidia_upsampling(nn.ConvTranspose2d(8, 4, 3, stride=2, padding=1))  # odd output size
    assert not is_nvidia_upsampling(nn.ConvTranspose2d(8, 4, 4, stride=2, padding=1))
    assert not is_nvidia_upsampling(nn.ConvTranspose2d(8, 4, 3, stride=2, padding=1, output_padding=1, groups=2))
    assert not is_nvidia_upsampling(nn.Conv2d(8, 4, 3))


@pytest.mark.parametrize("netG", ["global", "local"])
def test_a_generator_with_its_deconvs_replaced_is_the_generator(netG):
    torch.manual_seed(0)
    if netG == "global":
        G, ups = GlobalGenerator(5, 3, ngf=8, n_downsampling=2, n_blocks=1), 2
    else:
        G, ups = LocalEnhancer(5, 3, ngf=8, n_downsample_global=2, n_blocks_global=1, n_blocks_local=1), 3
    G = G.double().eval()
    x = torch.randn(1, 5, 32, 64, dtype=torch.float64)
    with torch.no_grad():
        expected = G(x)
        assert replace_deconvs(G) == ups
        assert not any(isinstance(m, nn.ConvTranspose2d) for m in G.modules())
        torch.testing.assert_close(G(x), expected, rtol=0, atol=1e-10)
