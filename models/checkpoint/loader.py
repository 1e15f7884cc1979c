"""One entry point for loading a model, above the formats it dispatches to: our bundle
(:mod:`.bundle`), an NVIDIA checkpoint directory (:mod:`.nvidia`) or a training run directory
(resolved to its bundle by :mod:`.locate`). The formats never import this module or each other's
loaders (import-linter contract "checkpoint loading is layered" in pyproject.toml)."""

from __future__ import annotations

import os

import torch
from p2phd.models.checkpoint.bundle import Bundle, load_bundle_dir
from p2phd.models.checkpoint.locate import find_checkpoint, locate
from p2phd.models.checkpoint.nvidia import load_nvidia_dir

__all__ = ["find_checkpoint", "load_bundle"]


def load_bundle(path: str | os.PathLike, device: str | torch.device = "cpu") -> Bundle:
    """A bundle, an NVIDIA checkpoint directory or a run directory as a :class:`Bundle`, networks
    in eval mode on ``device``."""
    where = locate(path)
    bundle = load_bundle_dir(where.path) if where.kind == "bundle" else load_nvidia_dir(where.path)
    bundle.G.to(device).eval()
    if bundle.E is not None:
        bundle.E.to(device).eval()
    return bundle
