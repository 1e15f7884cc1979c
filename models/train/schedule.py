"""NVIDIA's learning-rate schedule and coarse-to-fine freeze, as pure functions of the epoch."""

from __future__ import annotations


def lr_for_epoch(epoch: int, lr: float, niter: int, niter_decay: int) -> float:
    """Learning rate used during 1-based ``epoch``.

    NVIDIA keeps ``lr`` for ``niter`` epochs and, at the end of every later epoch, subtracts
    ``lr / niter_decay``; so epoch ``niter + k`` runs at ``lr * (1 - (k - 1) / niter_decay)``.
    """
    if epoch <= niter or niter_decay <= 0:
        return lr
    done = min(epoch - niter - 1, niter_decay)
    return lr * (1.0 - done / niter_decay)


def global_frozen(epoch: int, niter_fix_global: int, netG: str) -> bool:
    """Stage 2 trains only the finest local enhancer (+ E) during epochs 1..niter_fix_global."""
    return netG == "local" and niter_fix_global > 0 and epoch <= niter_fix_global


def trainable_generator_prefix(n_local_enhancers: int) -> str:
    """NVIDIA's ``key.startswith('model' + str(n_local_enhancers))`` selects the enhancer to train."""
    return f"model{n_local_enhancers}"
