"""A stem's instance norm and ReLU, applied to its one-hot lookup and written channels-last.

The network input reaches G1 and each enhancer through ``pad, conv 7x7, instance norm, ReLU``. With the
conv as a lookup (:mod:`onehot_lut <p2phd.models.engine.onehot_lut>`) every pixel whose window holds one
key takes its value from a small per-key table, so the norm's statistics follow from the keys' pixel
counts plus the few mixed windows, and normalizing + ReLU is done once per key: the table is normalized
and then gathered, already in the layout (NHWC) and precision the backend computes in. Handed to OpenVINO
before its norm, the stem cost a planar fp32 -> NHWC bf16 reorder, the norm and its statistics' passes:
~0.09 s of label2city_1024p's 2048x1024 frame on the bf16 Zen 4 machine.
"""

from __future__ import annotations

import torch


def norm_relu_lookup_into(
    parts: tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor], out: torch.Tensor, eps: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """``out`` (H*W x C_out, its own float dtype) = ReLU(instance_norm(conv)) of one frame whose conv output
    is ``parts`` (``OneHotConv.parts``: key map, per-key outputs, mixed pixels and their outputs), equal to
    torch's within fp32 rounding (then rounded to ``out``'s dtype); returns the norm's fp32 (mean, biased
    variance), C_out each."""
    key_map, single, mixed, values = parts
    counts = torch.bincount(key_map, minlength=single.shape[0])  # pixels per key whose window is one key
    if mixed.numel():
        counts -= torch.bincount(key_map[mixed], minlength=single.shape[0])
    counts, single64 = counts.double(), single.double()
    n = key_map.numel()
    mean = (counts @ single64 + values.sum(0, dtype=torch.float64)) / n
    var = (counts @ (single64 - mean).square() + (values - mean.float()).square().sum(0, dtype=torch.float64)) / n
    scale = (var + eps).rsqrt()
    torch.index_select(((single64 - mean) * scale).relu_().to(out.dtype), 0, key_map, out=out)
    if mixed.numel():
        out[mixed] = ((values - mean.float()) * scale.float()).relu_().to(out.dtype)
    return mean.float(), var.float()


def norm_relu_dense_into(y: torch.Tensor, out: torch.Tensor, eps: float) -> tuple[torch.Tensor, torch.Tensor]:
    """The same for a conv output computed densely (``y``: 1 x C_out x H x W, a frame the lookup does not
    take)."""
    y = y[0].float().flatten(1)  # C_out x H*W
    var, mean = torch.var_mean(y, dim=1, unbiased=False)
    out.copy_(((y - mean[:, None]) * (var + eps).rsqrt()[:, None]).relu_().T)
    return mean, var
