"""The instance feature encoder E with vectorised instance-wise average pooling."""

from __future__ import annotations

import torch
from p2phd.models.networks.generator import GlobalGenerator
from torch import nn


def average_method(device: torch.device) -> str:
    """``scatter`` on MPS (``bincount`` falls back to the CPU there, ``index_add_`` is very slow),
    else ``index_add``."""
    return "scatter" if torch.device(device).type == "mps" else "index_add"


def instance_average(features: torch.Tensor, inst: torch.Tensor, method: str | None = None) -> torch.Tensor:
    """Replace every pixel's features by the mean over its (image, instance id) region.

    ``features`` N x C x H x W, ``inst`` N x 1 x H x W (any dtype holding integer ids). One
    scatter-add replaces NVIDIA's per-instance, per-channel Python loops. ``method``: ``index_add``
    (``index_add_`` + ``bincount``) or ``scatter`` (``scatter_add_`` only); default: ``scatter`` on
    MPS, where ``bincount`` falls back to the CPU and ``index_add_`` is pathologically slow.
    """
    if method is None:
        method = average_method(features.device)
    if method not in ("index_add", "scatter"):
        raise ValueError(f"method must be 'index_add' or 'scatter', not {method!r}")
    n, c, h, w = features.shape
    ids = inst.reshape(n, h * w).long()
    _, region = torch.unique(ids, return_inverse=True)  # dense 0..R-1 per id
    n_ids = int(region.max()) + 1 if region.numel() else 0
    region = region + torch.arange(n, device=ids.device).unsqueeze(1) * n_ids  # separate images
    region = region.reshape(-1)
    flat = features.permute(0, 2, 3, 1).reshape(-1, c)
    sums = torch.zeros(n * n_ids, c, dtype=torch.float32, device=features.device)
    if method == "scatter":
        sums.scatter_add_(0, region.unsqueeze(1).expand(-1, c), flat.float())
        counts = torch.zeros(n * n_ids, dtype=torch.float32, device=features.device)
        counts.scatter_add_(0, region, torch.ones_like(region, dtype=torch.float32))
        counts = counts.clamp_min(1).unsqueeze(1)
    else:
        sums.index_add_(0, region, flat.float())
        counts = torch.bincount(region, minlength=n * n_ids).clamp_min(1).unsqueeze(1).float()
    means = (sums / counts).to(features.dtype)
    return means[region].reshape(n, h, w, c).permute(0, 3, 1, 2).contiguous()


class Encoder(nn.Module):
    """E: image -> ``feat_num`` channels, averaged within each instance.

    NVIDIA's encoder is layer for layer a global generator without residual blocks, so it is built
    as one (same module indices, same parameter names).
    """

    def __init__(self, input_nc: int = 3, output_nc: int = 3, ngf: int = 16, n_downsampling: int = 4):
        super().__init__()
        self.output_nc = output_nc
        self.model = GlobalGenerator(input_nc, output_nc, ngf, n_downsampling, n_blocks=0).model

    def forward(self, image: torch.Tensor, inst: torch.Tensor) -> torch.Tensor:
        return instance_average(self.model(image), inst)
