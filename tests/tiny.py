"""The tiny architecture every unit test builds (house style 12: ngf 4, two downsamplings, one block),
in one place instead of a literal per test file."""

from __future__ import annotations

from pathlib import Path

from p2phd.models.config import ModelConfig

BASE = dict(ngf=4, n_downsample_global=2, n_blocks_global=1, n_blocks_local=1)
FEATURES = dict(instance_feat=True, feat_num=3, nef=4, n_downsample_E=2)


def tiny_config(netG: str = "global", features: bool = False, **changes) -> ModelConfig:
    """``netG`` global or local; ``features``: an instance-feature model with a tiny encoder E. A global
    config keeps the default ``n_blocks_local`` (what is inferred from an NVIDIA global generator)."""
    base = BASE if netG == "local" else {k: v for k, v in BASE.items() if k != "n_blocks_local"}
    return ModelConfig(**{"netG": netG, **base, **(FEATURES if features else {}), **changes})


def save_tiny_bundle(path: Path, cfg: ModelConfig | None = None, clusters=None, seed: int = 0) -> Path:
    """A bundle of ``cfg`` (default: the global tiny config) with random weights, written to ``path``."""
    import torch
    from p2phd.models.checkpoint.bundle import save_bundle

    cfg = cfg or tiny_config()
    torch.manual_seed(seed)
    E = cfg.build_E() if cfg.instance_feat else None
    return save_bundle(path, cfg, cfg.build_G(), E, clusters)


def tiny_train_options(dataroot, run_root, **changes):
    """``p2phd train`` options for the tiny architecture with E and a small discriminator, on the CPU."""
    from p2phd.models.train.options import default_namespace

    opts = dict(name="tiny", checkpoints_dir=str(run_root), dataroot=str(dataroot), **BASE, **FEATURES)
    opts.update(ndf=4, n_layers_D=2, no_vgg_loss=True)
    return default_namespace(**{**opts, **changes})
