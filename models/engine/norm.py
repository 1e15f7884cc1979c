"""Instance norm that can record its statistics in a full pass and replay them on a crop.

In ``compute`` and ``record`` mode it is PyTorch's fused instance norm (fp32 accumulation even for
bf16/fp16 input); ``record`` keeps the per-channel mean/var (fp32) through the running-stats
buffers with momentum 1. ``replay`` normalises with the recorded statistics (eval-mode batch norm),
which is what makes a crop of the image normalise exactly as the full frame did.

One image at a time (full frames) goes through ``F.batch_norm`` in training mode, which for a batch
of one *is* instance norm but, unlike ``F.instance_norm``, keeps a channels-last input channels-last
(instance norm returns NCHW: two full-size layout copies per norm on a GPU)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import nn

MODES = ("compute", "record", "replay")


class CachedStatsInstanceNorm(nn.Module):
    def __init__(self, num_features: int, eps: float = 1e-5, stats_dtype: torch.dtype = torch.float32):
        super().__init__()
        self.num_features = num_features
        self.eps = eps
        self.mode = "compute"
        # Precision.norm_dtype: fp32, or the input dtype on MPS (fp16 input with fp32 statistics aborts there)
        self.stats_dtype = stats_dtype
        self.stats: tuple[torch.Tensor, torch.Tensor] | None = None  # per-channel mean, biased var

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # All three paths are single fused kernels that accumulate in fp32 even for bf16/fp16
        # input; hand-written var_mean + sub + mul was 4x slower on the CPU.
        if self.mode == "replay":
            if self.stats is None:
                raise RuntimeError("replay mode needs statistics recorded by a full pass first")
            mean, var = (s.to(self.stats_dtype) for s in self.stats)  # no-op unless the dtype changed
            return F.batch_norm(x, mean, var, None, None, False, 0.0, self.eps)
        if self.mode == "record":
            if x.shape[0] != 1:
                raise ValueError("statistics are recorded for one image at a time")
            mean = torch.zeros(self.num_features, device=x.device, dtype=self.stats_dtype)
            var = torch.ones(self.num_features, device=x.device, dtype=self.stats_dtype)
            out = F.batch_norm(x, mean, var, None, None, True, 1.0, self.eps)  # = instance norm for N = 1
            n = x.shape[2] * x.shape[3]
            self.stats = (mean, var * ((n - 1) / n))  # running_var is unbiased; the norm used the biased one
            return out
        if x.shape[0] == 1:
            return F.batch_norm(x, None, None, None, None, True, 0.0, self.eps)
        return F.instance_norm(x, eps=self.eps)


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
