"""PatchGAN discriminators at several scales, with NVIDIA's parameter names."""

from __future__ import annotations

import torch
from torch import nn


def _patch_layers(input_nc: int, ndf: int, n_layers: int, use_sigmoid: bool) -> list[list[nn.Module]]:
    kw, padw = 4, 2  # NVIDIA: padw = ceil((kw - 1) / 2)
    groups: list[list[nn.Module]] = [
        [nn.Conv2d(input_nc, ndf, kernel_size=kw, stride=2, padding=padw), nn.LeakyReLU(0.2, True)]
    ]
    nf = ndf
    for _ in range(1, n_layers):
        nf_prev, nf = nf, min(nf * 2, 512)
        groups.append(
            [
                nn.Conv2d(nf_prev, nf, kernel_size=kw, stride=2, padding=padw),
                nn.InstanceNorm2d(nf, affine=False),
                nn.LeakyReLU(0.2, True),
            ]
        )
    nf_prev, nf = nf, min(nf * 2, 512)
    groups.append(
        [
            nn.Conv2d(nf_prev, nf, kernel_size=kw, stride=1, padding=padw),
            nn.InstanceNorm2d(nf, affine=False),
            nn.LeakyReLU(0.2, True),
        ]
    )
    groups.append([nn.Conv2d(nf, 1, kernel_size=kw, stride=1, padding=padw)])
    if use_sigmoid:
        groups.append([nn.Sigmoid()])
    return groups


class NLayerDiscriminator(nn.Module):
    """One PatchGAN. With ``getIntermFeat`` its groups are ``model0..model{n}`` and ``forward``
    returns every group's output (for feature matching); otherwise one ``model`` and a single map."""

    def __init__(
        self, input_nc: int, ndf: int = 64, n_layers: int = 3, use_sigmoid: bool = False, getIntermFeat: bool = False
    ):
        super().__init__()
        self.getIntermFeat = getIntermFeat
        groups = _patch_layers(input_nc, ndf, n_layers, use_sigmoid)
        self.n_groups = len(groups)
        if getIntermFeat:
            for i, group in enumerate(groups):
                setattr(self, f"model{i}", nn.Sequential(*group))
        else:
            self.model = nn.Sequential(*[m for group in groups for m in group])

    def forward(self, x: torch.Tensor) -> torch.Tensor | list[torch.Tensor]:
        if not self.getIntermFeat:
            return self.model(x)
        outs = []
        for i in range(self.n_groups):
            x = getattr(self, f"model{i}")(x)
            outs.append(x)
        return outs


class MultiscaleDiscriminator(nn.Module):
    """``num_D`` PatchGANs on the input downsampled 0..num_D-1 times.

    Parameters are ``scale{i}_layer{j}`` (intermediate features) or ``layer{i}``; scale
    ``num_D-1`` sees the full-resolution input, as in NVIDIA's code. ``forward`` returns, per
    scale (finest first), the list of group outputs; the last entry is the prediction.
    """

    def __init__(
        self,
        input_nc: int,
        ndf: int = 64,
        n_layers: int = 3,
        use_sigmoid: bool = False,
        num_D: int = 3,
        getIntermFeat: bool = False,
    ):
        super().__init__()
        self.num_D = num_D
        self.n_layers = n_layers
        self.getIntermFeat = getIntermFeat
        for i in range(num_D):
            net = NLayerDiscriminator(input_nc, ndf, n_layers, use_sigmoid, getIntermFeat)
            if getIntermFeat:
                for j in range(net.n_groups):
                    setattr(self, f"scale{i}_layer{j}", getattr(net, f"model{j}"))
            else:
                setattr(self, f"layer{i}", net.model)
        self.n_groups = net.n_groups if num_D else 0
        self.downsample = nn.AvgPool2d(3, stride=2, padding=[1, 1], count_include_pad=False)

    def _scale_forward(self, i: int, x: torch.Tensor) -> list[torch.Tensor]:
        if not self.getIntermFeat:
            return [getattr(self, f"layer{i}")(x)]
        outs = []
        for j in range(self.n_groups):
            x = getattr(self, f"scale{i}_layer{j}")(x)
            outs.append(x)
        return outs

    def forward(self, x: torch.Tensor) -> list[list[torch.Tensor]]:
        result = []
        for i in range(self.num_D):
            result.append(self._scale_forward(self.num_D - 1 - i, x))
            if i != self.num_D - 1:
                x = self.downsample(x)
        return result
