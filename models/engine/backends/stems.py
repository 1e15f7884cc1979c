"""A generator split at its input convolutions, so a backend compiles only the dense rest.

The *stems* are the reflection pad + 7x7 conv that read the network input at each scale (G1's first
layer and every enhancer's ``model{n}_1[0:2]``): 25% of label2city_1024p's MACs, computed here in fp32
as one-hot lookups (:mod:`p2phd.models.engine.onehot_lut`), equal to the conv within fp32 rounding.
The *tail* is everything after them; :class:`Tail` takes the stems' outputs as its inputs and returns
what :meth:`LocalEnhancer.forward_with_coarse` returns. ``Tail(G)(*Stems(G)(x))`` is ``G(x)``.
"""

from __future__ import annotations

import torch
from p2phd.models.engine.onehot_lut import MAX_KEYS, OneHotConv
from p2phd.models.networks.generator import LocalEnhancer
from torch import nn


def stem_slots(G: nn.Module) -> list[nn.Sequential]:
    """The sequentials whose first two modules (pad, conv) read the network input, coarsest first."""
    if isinstance(G, LocalEnhancer):
        return [G.model] + [G.enhancer(n)[0] for n in range(1, G.n_local_enhancers + 1)]
    return [G.model]


class Stems(nn.Module):
    """x -> [stem output at each scale, coarsest first], each 1 x C x h x w fp32 (lookups; a frame with
    too many distinct input vectors falls back to the conv, see ``OneHotConv``)."""

    def __init__(self, G: nn.Module, max_keys: int = MAX_KEYS):
        super().__init__()
        self.local = isinstance(G, LocalEnhancer)
        self._pyramid = G.input_pyramid if self.local else None  # a bound method: G is not a submodule
        self.convs = nn.ModuleList(OneHotConv(seq[0], seq[1], max_keys) for seq in stem_slots(G))

    @property
    def input_nc(self) -> int:
        return self.convs[0].in_channels

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = x.float()
        inputs = list(reversed(self._pyramid(x))) if self.local else [x]
        return [conv(level) for conv, level in zip(self.convs, inputs, strict=True)]


class Tail(nn.Module):
    """The generator after its stems: ``(stem outputs, coarsest first) -> (G(x), coarse features)``
    (``coarse`` is None for a global generator). Shares G's modules; holds no copies."""

    def __init__(self, G: nn.Module):
        super().__init__()
        self.G = G
        self.local = isinstance(G, LocalEnhancer)

    def forward(self, *stems: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        G = self.G
        out = G.model[2:](stems[0])
        if not self.local:
            return out, None
        coarse = out
        for n in range(1, G.n_local_enhancers + 1):
            down, up = G.enhancer(n)
            coarse = out
            out = up(down[2:](stems[n]) + out)
        return out, coarse
