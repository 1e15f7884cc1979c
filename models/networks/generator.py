"""pix2pixHD generators: G1 (``GlobalGenerator``) and G2 (``LocalEnhancer``).

Module layout and parameter names are NVIDIA's (``model``, ``model1_1``, ``model1_2``, ...) so their
state dicts load with ``strict=True``; every layer sits at the index NVIDIA's ``nn.Sequential`` gives it.
"""

from __future__ import annotations

import torch
from torch import nn


def _norm(channels: int) -> nn.Module:
    # NVIDIA's default ``--norm instance``: no affine parameters, no running statistics.
    return nn.InstanceNorm2d(channels, affine=False)


class ResnetBlock(nn.Module):
    """x + (pad, conv3x3, norm, relu, pad, conv3x3, norm)(x), NVIDIA's reflect-padded block."""

    def __init__(self, dim: int):
        super().__init__()
        self.conv_block = nn.Sequential(
            nn.ReflectionPad2d(1),
            nn.Conv2d(dim, dim, kernel_size=3, padding=0),
            _norm(dim),
            nn.ReLU(True),
            nn.ReflectionPad2d(1),
            nn.Conv2d(dim, dim, kernel_size=3, padding=0),
            _norm(dim),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv_block(x)


def _upsample(in_ch: int, out_ch: int) -> list[nn.Module]:
    return [
        nn.ConvTranspose2d(in_ch, out_ch, kernel_size=3, stride=2, padding=1, output_padding=1),
        _norm(out_ch),
        nn.ReLU(True),
    ]


def _output_layers(ngf: int, output_nc: int) -> list[nn.Module]:
    return [nn.ReflectionPad2d(3), nn.Conv2d(ngf, output_nc, kernel_size=7, padding=0), nn.Tanh()]


class GlobalGenerator(nn.Module):
    """G1: 7x7 conv, ``n_downsampling`` stride-2 convs, ``n_blocks`` residual blocks, as many
    transposed convs, 7x7 conv + tanh."""

    def __init__(self, input_nc: int, output_nc: int = 3, ngf: int = 64, n_downsampling: int = 3, n_blocks: int = 9):
        super().__init__()
        if n_blocks < 0:
            raise ValueError("n_blocks must be >= 0")
        layers: list[nn.Module] = [
            nn.ReflectionPad2d(3),
            nn.Conv2d(input_nc, ngf, kernel_size=7, padding=0),
            _norm(ngf),
            nn.ReLU(True),
        ]
        for i in range(n_downsampling):
            mult = 2**i
            layers += [
                nn.Conv2d(ngf * mult, ngf * mult * 2, kernel_size=3, stride=2, padding=1),
                _norm(ngf * mult * 2),
                nn.ReLU(True),
            ]
        mult = 2**n_downsampling
        layers += [ResnetBlock(ngf * mult) for _ in range(n_blocks)]
        for i in range(n_downsampling):
            mult = 2 ** (n_downsampling - i)
            layers += _upsample(ngf * mult, ngf * mult // 2)
        layers += _output_layers(ngf, output_nc)
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class LocalEnhancer(nn.Module):
    """G = G2 ∘ G1: the global generator (minus its last 3 modules) runs on the input downsampled
    ``n_local_enhancers`` times; each enhancer n adds ``model{n}_1(input at its scale)`` to the
    coarser features and refines them with ``model{n}_2``."""

    def __init__(
        self,
        input_nc: int,
        output_nc: int = 3,
        ngf: int = 32,
        n_downsample_global: int = 3,
        n_blocks_global: int = 9,
        n_local_enhancers: int = 1,
        n_blocks_local: int = 3,
    ):
        super().__init__()
        if n_local_enhancers < 1:
            raise ValueError("n_local_enhancers must be >= 1 (use GlobalGenerator for 0)")
        self.n_local_enhancers = n_local_enhancers
        ngf_global = ngf * (2**n_local_enhancers)
        global_layers = GlobalGenerator(input_nc, output_nc, ngf_global, n_downsample_global, n_blocks_global).model
        self.model = nn.Sequential(*list(global_layers)[:-3])  # drop the final pad/conv/tanh

        for n in range(1, n_local_enhancers + 1):
            ngf_n = ngf * (2 ** (n_local_enhancers - n))
            downsample = [
                nn.ReflectionPad2d(3),
                nn.Conv2d(input_nc, ngf_n, kernel_size=7, padding=0),
                _norm(ngf_n),
                nn.ReLU(True),
                nn.Conv2d(ngf_n, ngf_n * 2, kernel_size=3, stride=2, padding=1),
                _norm(ngf_n * 2),
                nn.ReLU(True),
            ]
            upsample: list[nn.Module] = [ResnetBlock(ngf_n * 2) for _ in range(n_blocks_local)]
            upsample += _upsample(ngf_n * 2, ngf_n)
            if n == n_local_enhancers:
                upsample += _output_layers(ngf, output_nc)
            setattr(self, f"model{n}_1", nn.Sequential(*downsample))
            setattr(self, f"model{n}_2", nn.Sequential(*upsample))

        self.downsample = nn.AvgPool2d(3, stride=2, padding=[1, 1], count_include_pad=False)

    def input_pyramid(self, x: torch.Tensor) -> list[torch.Tensor]:
        """[full, 1/2, 1/4, ...]: the input at every scale, coarsest last."""
        pyramid = [x]
        for _ in range(self.n_local_enhancers):
            pyramid.append(self.downsample(pyramid[-1]))
        return pyramid

    def enhancer(self, n: int) -> tuple[nn.Sequential, nn.Sequential]:
        return getattr(self, f"model{n}_1"), getattr(self, f"model{n}_2")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_with_coarse(x)[0]

    def forward_with_coarse(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """G(x) and the coarse features the last enhancer adds (cached by the engine for previews)."""
        pyramid = self.input_pyramid(x)
        out = coarse = self.model(pyramid[-1])
        for n in range(1, self.n_local_enhancers + 1):
            down, up = self.enhancer(n)
            coarse = out
            out = up(down(pyramid[self.n_local_enhancers - n]) + out)
        return out, coarse
