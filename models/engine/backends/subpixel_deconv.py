"""The generator's transposed convolutions rewritten as ordinary convolutions for CPU backends.

OpenVINO's CPU plugin runs ``ConvolutionBackpropData`` (a transposed convolution) in fp32 even when bf16
is asked for, with bf16 <-> fp32 reorders around it: profiled on label2city_1024p at 2048x1024 on the bf16
Zen 4 machine, its five transposed convs (48 GMAC) took 0.62 s of a 4.2 s frame, at 78 GMAC/s, while its
ordinary convolutions ran at ~205 GMAC/s (the machine's bf16 GEMM rate).

NVIDIA's ``ConvTranspose2d(k=3, stride=2, padding=1, output_padding=1)`` is a sub-pixel convolution:
output pixel (2a + p, 2b + q) sums input pixels (a, b) .. (a + 1, b + 1) only, through kernel tap
``u = 1`` for phase 0 and taps ``u = 2`` (offset 0), ``u = 0`` (offset 1) for phase 1. So each of the four
output phases (p, q) is an ordinary convolution of the input (1 x 1, 1 x 2, 2 x 1 and 2 x 2 taps, the
input padded by a zero row / column where the taps reach past it), and the phases interleave into the
output by a depth-to-space. The same products as the transposed conv, none with a zero tap (one 2 x 2
conv into 4 x the channels would compute 16/9 of the MACs: measured 0.2 s slower per frame), summed in
another order. The phases are concatenated phase-major, so the depth-to-space is ONNX's ``DCR`` mode,
which OpenVINO ran 2.5x faster than the channel-major ``CRD`` of ``pixel_shuffle`` (15 vs 38 ms on the
largest one).

Used only in graphs exported for OpenVINO's bf16 hint (in fp32 OpenVINO's own transposed conv runs at
its ordinary rate); eager torch keeps NVIDIA's layer (the fp32 parity).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

# (output phase, input offset) -> the transposed kernel's tap, for k=3, stride 2, padding 1
_TAP = {(0, 0): 1, (1, 0): 2, (1, 1): 0}


class _DepthToSpaceDCR(torch.autograd.Function):
    """``y`` (N x 4C x H x W, phase-major: channel (p * 2 + q) * C + c) -> N x C x 2H x 2W; exported as
    ONNX ``DepthToSpace`` in ``DCR`` mode (torch's own export of this reshape / permute would not keep the
    channel count static, which the next instance norm's export needs)."""

    @staticmethod
    def forward(ctx, y: torch.Tensor) -> torch.Tensor:
        n, c4, h, w = y.shape
        return y.view(n, 2, 2, c4 // 4, h, w).permute(0, 3, 4, 1, 5, 2).reshape(n, c4 // 4, 2 * h, 2 * w)

    @staticmethod
    def symbolic(g, y):
        return g.op("DepthToSpace", y, blocksize_i=2, mode_s="DCR")


class SubpixelDeconv(nn.Module):
    """``deconv(x)`` for NVIDIA's upsampling layer, as four phase convolutions + depth-to-space."""

    def __init__(self, deconv: nn.ConvTranspose2d):
        super().__init__()
        w = deconv.weight.detach().transpose(0, 1)  # (out, in, 3, 3)
        for p in (0, 1):
            for q in (0, 1):
                rows = [u for (phase, _), u in sorted(_TAP.items()) if phase == p]  # by input offset
                cols = [v for (phase, _), v in sorted(_TAP.items()) if phase == q]
                self.register_buffer(f"w{p}{q}", w[:, :, rows][:, :, :, cols].contiguous())
        bias = deconv.bias.detach() if deconv.bias is not None else w.new_zeros(w.shape[0])
        self.register_buffer("bias", bias.clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        phases = []
        for p in (0, 1):
            for q in (0, 1):  # a phase-1 axis reads offsets 0 and 1: one zero column / row past the input
                phases.append(F.conv2d(F.pad(x, (0, q, 0, p)), getattr(self, f"w{p}{q}"), self.bias))
        return _DepthToSpaceDCR.apply(torch.cat(phases, 1))


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
