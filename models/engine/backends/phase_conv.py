"""The generator's last convolution (ngf -> 3 channels, 7x7, reflect-padded) rewritten for CPU backends.

A convolution with 3 output channels fills 3 of the 8 lanes of an AVX2 fp32 vector (16 of AVX-512): the
CPU computes 8 and throws 5 away. Split the output into its 2 x 2 pixel phases instead: output pixel
(2a + p, 2b + q) is a (k+1) x (k+1) stride-2 convolution at (a, b) whose kernel is the original one shifted
by (p, q) (zeros elsewhere), so one stride-2 convolution with 4 x 3 = 12 output channels followed by a
pixel shuffle computes the same sums (exactly the same products; only the order of the additions may
differ, within fp32 rounding). Measured in OpenVINO f32 on the 2-core AVX2 machine: 610 -> 500 ms for
label2city_1024p's last layer at 2048x1024, 82 -> 64 ms for the demo model's at 1024x512.

Used only in the graph exported for OpenVINO; eager torch keeps NVIDIA's convolution (the fp32 parity).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

PHASES = 2  # 2 x 2 phases: 12 output channels for RGB (4 x 4 measured only 8% faster, with 1.2x the MACs)
NARROW = 8  # output channels below this (an AVX2 fp32 vector's width) are worth splitting


class PhaseConv(nn.Module):
    """``conv(pad(x))`` for a reflection pad of k//2 and a k x k, stride-1 ``conv``, as a stride-2 conv into
    4x the channels and a pixel shuffle; a map of odd height or width goes through ``conv`` itself."""

    def __init__(self, pad: nn.ReflectionPad2d, conv: nn.Conv2d):
        super().__init__()
        out_c, in_c, k, _ = conv.weight.shape
        r, size = PHASES, k + PHASES - 1
        weight = conv.weight.detach().new_zeros(out_c, r, r, in_c, size, size)
        for p in range(r):
            for q in range(r):
                weight[:, p, q, :, p : p + k, q : q + k] = conv.weight.detach()
        # channel c * 4 + p * 2 + q holds phase (p, q) of output channel c: pixel_shuffle's order
        self.register_buffer("weight", weight.reshape(out_c * r * r, in_c, size, size))
        bias = conv.bias.detach() if conv.bias is not None else conv.weight.new_zeros(out_c)
        self.register_buffer("bias", bias.repeat_interleave(r * r))
        self.pad, self.conv = pad, conv

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-2] % PHASES or x.shape[-1] % PHASES:
            return self.conv(self.pad(x))
        return F.pixel_shuffle(F.conv2d(self.pad(x), self.weight, self.bias, stride=PHASES), PHASES)


def splittable(pad: nn.Module, conv: nn.Module) -> bool:
    """Whether ``pad`` + ``conv`` is the kind of layer :class:`PhaseConv` computes, and worth it."""
    if not (isinstance(pad, nn.ReflectionPad2d) and type(conv) is nn.Conv2d):
        return False
    k = conv.kernel_size
    return (
        conv.out_channels < NARROW
        and k[0] == k[1]
        and k[0] % 2 == 1
        and tuple(pad.padding) == (k[0] // 2,) * 4
        and conv.stride == (1, 1)
        and conv.dilation == (1, 1)
        and conv.groups == 1
        and conv.padding == (0, 0)
    )


def split_output_convs(sequence: nn.Sequential) -> int:
    """Replace each splittable pad + conv pair in ``sequence`` (in place) by a :class:`PhaseConv` and an
    ``nn.Identity``; returns how many were replaced."""
    replaced = 0
    for i in range(len(sequence) - 1):
        if splittable(sequence[i], sequence[i + 1]):
            sequence[i], sequence[i + 1] = PhaseConv(sequence[i], sequence[i + 1]), nn.Identity()
            replaced += 1
    return replaced
