"""One code path for single-process and ``torchrun`` training (gloo on CPU, NCCL on CUDA)."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn


@dataclass
class Distributed:
    rank: int = 0
    world_size: int = 1
    device: torch.device = torch.device("cpu")

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def wrap(self, module: nn.Module) -> nn.Module:
        """DDP around ``module`` when distributed (only parameters that require grad are synced)."""
        if not self.enabled:
            return module
        ids = [self.device.index] if self.device.type == "cuda" else None
        return nn.parallel.DistributedDataParallel(module, device_ids=ids)

    def mean(self, value: float) -> float:
        if not self.enabled:
            return value
        t = torch.tensor([value], dtype=torch.float64, device=self.device)
        dist.all_reduce(t)
        return float(t.item()) / self.world_size

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()


def setup(device: str = "auto") -> Distributed:
    """Join the process group that ``torchrun`` describes in the environment, if any."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    want_cuda = device == "cuda" or (device == "auto" and torch.cuda.is_available())
    if device not in ("auto", "cpu", "cuda"):
        raise ValueError(f"--device must be auto, cpu or cuda, not {device!r}")
    if want_cuda and not torch.cuda.is_available():
        raise ValueError("--device cuda was asked for but CUDA is not available")
    if world <= 1:
        return Distributed(0, 1, torch.device("cuda" if want_cuda else "cpu"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if want_cuda:
        torch.cuda.set_device(local_rank)
        dev = torch.device("cuda", local_rank)
    else:
        dev = torch.device("cpu")
    if not dist.is_initialized():
        dist.init_process_group("nccl" if want_cuda else "gloo")
    return Distributed(dist.get_rank(), dist.get_world_size(), dev)


def teardown(ctx: Distributed) -> None:
    if ctx.enabled and dist.is_initialized():
        dist.destroy_process_group()


class EpochSampler(torch.utils.data.Sampler):
    """Shuffled per epoch from ``seed``, sharded across ranks, optionally skipping the batches a
    resumed run has already done; every rank gets the same number of whole batches. Yields
    ``(epoch, index)`` pairs (see :meth:`PairedMapsDataset.__getitem__`)."""

    def __init__(self, n: int, batch_size: int, ctx: Distributed, seed: int = 0):
        self.n, self.batch_size, self.ctx, self.seed = n, batch_size, ctx, seed
        self.epoch, self.skip_batches = 0, 0

    def set_epoch(self, epoch: int, skip_batches: int = 0) -> None:
        self.epoch, self.skip_batches = epoch, skip_batches

    def batches_per_epoch(self) -> int:
        return self.n // (self.batch_size * self.ctx.world_size)

    def __iter__(self):
        g = torch.Generator().manual_seed(self.seed * 100003 + self.epoch)
        order = torch.randperm(self.n, generator=g).tolist()
        per_rank = self.batches_per_epoch() * self.batch_size
        mine = order[self.ctx.rank * per_rank : (self.ctx.rank + 1) * per_rank]
        # (epoch, index): the dataset draws a sample's crop from both, and a persistent DataLoader
        # worker keeps its own copy of the dataset, which never sees the main process's set_epoch
        return iter([(self.epoch, i) for i in mine[self.skip_batches * self.batch_size :]])

    def __len__(self) -> int:
        return (self.batches_per_epoch() - self.skip_batches) * self.batch_size
