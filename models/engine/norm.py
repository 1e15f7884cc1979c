"""Instance norm with fp32 statistics that can record them and later replay them.

PyTorch's ``InstanceNorm2d`` copies channels-last tensors to NCHW, and in fp16 its statistics lose
precision. This one reduces in fp32 in whatever layout the input has. In ``record`` mode it keeps
the per-channel mean/var of the last call; in ``replay`` mode it normalises with them instead,
which is what makes a crop of the image normalise exactly as the full frame did.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn

MODES = ("compute", "record", "replay")


class CachedStatsInstanceNorm(nn.Module):
    def __init__(self, num_features: int, eps: float = 1e-5):
        super().__init__()
        self.num_features = num_features
        self.eps = eps
        self.mode = "compute"
        self.stats: tuple[torch.Tensor, torch.Tensor] | None = None  # fp32 mean, var: N x C x 1 x 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.mode == "replay":
            if self.stats is None:
                raise RuntimeError("replay mode needs statistics recorded by a full pass first")
            mean, var = self.stats
            if mean.shape[0] != x.shape[0]:
                mean, var = mean.expand(x.shape[0], -1, -1, -1), var.expand(x.shape[0], -1, -1, -1)
        else:
            var, mean = torch.var_mean(x.float(), dim=(2, 3), keepdim=True, correction=0)
            if self.mode == "record":
                self.stats = (mean.detach(), var.detach())
        scale = torch.rsqrt(var + self.eps)
        return (x - mean.to(x.dtype)) * scale.to(x.dtype)


def replace_instance_norms(module: nn.Module) -> list[CachedStatsInstanceNorm]:
    """Swap every affine-free ``nn.InstanceNorm2d`` in ``module`` (in place); returns the new ones."""
    replaced = []
    for name, child in list(module.named_children()):
        if isinstance(child, nn.InstanceNorm2d):
            if child.affine or child.track_running_stats:
                raise ValueError(f"{name}: only affine-free instance norm without running stats is supported")
            new = CachedStatsInstanceNorm(child.num_features, child.eps)
            setattr(module, name, new)
            replaced.append(new)
        else:
            replaced += replace_instance_norms(child)
    return replaced


def norms_in(module: nn.Module) -> list[CachedStatsInstanceNorm]:
    return [m for m in module.modules() if isinstance(m, CachedStatsInstanceNorm)]


@contextmanager
def norm_mode(module: nn.Module, mode: str) -> Iterator[None]:
    """Run ``module``'s cached-stats norms in ``mode`` for the duration of the block."""
    if mode not in MODES:
        raise ValueError(f"norm mode must be one of {MODES}")
    norms = norms_in(module)
    previous = [n.mode for n in norms]
    for n in norms:
        n.mode = mode
    try:
        yield
    finally:
        for n, old in zip(norms, previous):
            n.mode = old
