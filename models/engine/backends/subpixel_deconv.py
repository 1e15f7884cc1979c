"""The generator's transposed convolutions rewritten as ordinary convolutions for CPU backends.

OpenVINO's CPU plugin runs ``ConvolutionBackpropData`` (a transposed convolution) in fp32 even when bf16
is asked for, with bf16 <-> fp32 reorders around it: profiled on label2city_1024p at 2048x1024 on the bf16
Zen 4 machine, its five transposed convs (48 GMAC) took 0.62 s of a 4.2 s frame, at 78 GMAC/s, while its
ordinary convolutions ran at ~205 GMAC/s (the machine's bf16 GEMM rate).

NVIDIA's ``ConvTranspose2d(k=3, stride=2, padding=1, output_padding=1)`` is a sub-pixel convolution:
output pixel (2a + p, 2b + q) sums input pixels (a, b) .. (a + 1, b + 1) only, through kernel tap
``u = 1`` for phase 0 and taps ``u = 2`` (offset 0), ``u = 0`` (offset 1) for phase 1. So a 2 x 2 convolution
of the input padded by one zero row and column, into 4 x the channels (one group per phase), followed by a
pixel shuffle, computes the same sums with the same products (plus products with zero kernel taps; the
order of the additions may differ within rounding). OpenVINO runs that in bf16.

Used only in graphs exported for OpenVINO's bf16 hint (in fp32 OpenVINO's own transposed conv is faster
than the zero taps' 16/9 of the MACs); eager torch keeps NVIDIA's layer (the fp32 parity).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

# (output phase, input offset) -> the transposed kernel's tap, for k=3, stride 2, padding 1
_TAP = {(0, 0): 1, (1, 0): 2, (1, 1): 0}


class SubpixelDeconv(nn.Module):
    """``deconv(x)`` for NVIDIA's upsampling layer, as pad + 2 x 2 conv into 4 x the channels + pixel shuffle."""

    def __init__(self, deconv: nn.ConvTranspose2d):
        super().__init__()
        w = deconv.weight.detach()  # (in, out, 3, 3)
        in_c, out_c = w.shape[:2]
        weight = w.new_zeros(out_c, 2, 2, in_c, 2, 2)  # [out, p, q, in, di, dj]
        for (p, di), u in _TAP.items():
            for (q, dj), v in _TAP.items():
                weight[:, p, q, :, di, dj] = w[:, :, u, v].t()
        # channel c * 4 + p * 2 + q holds phase (p, q) of output channel c: pixel_shuffle's order
        self.register_buffer("weight", weight.reshape(out_c * 4, in_c, 2, 2))
        bias = deconv.bias.detach() if deconv.bias is not None else w.new_zeros(out_c)
        self.register_buffer("bias", bias.repeat_interleave(4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.pixel_shuffle(F.conv2d(F.pad(x, (0, 1, 0, 1)), self.weight, self.bias), 2)


def is_nvidia_upsampling(module: nn.Module) -> bool:
    """Whether ``module`` is the transposed convolution :class:`SubpixelDeconv` reproduces."""
    return (
        type(module) is nn.ConvTranspose2d
        and module.kernel_size == (3, 3)
        and module.stride == (2, 2)
        and module.padding == (1, 1)
        and module.output_padding == (1, 1)
        and module.dilation == (1, 1)
        and module.groups == 1
        and module.padding_mode == "zeros"
    )


def replace_deconvs(module: nn.Module) -> int:
    """Replace (in place, recursively) each of NVIDIA's upsampling layers by a :class:`SubpixelDeconv`;
    returns how many were replaced."""
    replaced = 0
    for name, child in list(module.named_children()):
        if is_nvidia_upsampling(child):
            setattr(module, name, SubpixelDeconv(child))
            replaced += 1
        else:
            replaced += replace_deconvs(child)
    return replaced
