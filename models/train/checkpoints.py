"""Resumable training checkpoints: ``<run>/train/<label>.pt`` holding state dicts only (loaded
with ``weights_only=True``) and a ``<run>/train/latest`` text file naming the newest one."""

from __future__ import annotations

from pathlib import Path

import torch
from p2phd.models.errors import CheckpointError
from p2phd.models.mapfiles.atomic import atomic_write
from torch import nn


def checkpoint_dir(run_dir: Path) -> Path:
    return Path(run_dir) / "train"


def save_training_state(run_dir: Path, label: str, state: dict, point_latest: bool = True) -> Path:
    folder = checkpoint_dir(run_dir)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{label}.pt"
    atomic_write(path, lambda fh: torch.save(state, fh))
    if point_latest:
        atomic_write(folder / "latest", f"{path.name}\n".encode())
    return path


# What a run needs to go on elsewhere: the networks and where the schedule stands. The optimiser's
# moments (twice G's size), the image pool and the RNG are left out; the trainer rebuilds the moments
# at learning rate 0 (--warmup_moments) before it trains on.
SLIM_KEYS = ("G", "E", "D", "epoch", "epoch_iter", "total_steps", "global_frozen", "options")


def slim_training_state(state: dict) -> dict:
    return {k: state[k] for k in SLIM_KEYS if k in state}


def resolve_checkpoint(run_dir: Path, which_epoch: str = "latest") -> Path:
    folder = checkpoint_dir(run_dir)
    if which_epoch == "latest":
        pointer = folder / "latest"
        if not pointer.is_file():
            raise CheckpointError(f"{run_dir} has no training checkpoint ({pointer} is missing)")
        path = folder / pointer.read_text().strip()
    else:
        path = folder / f"{which_epoch}.pt"
    if not path.is_file():
        raise CheckpointError(f"training checkpoint {path} does not exist")
    return path


def load_training_state(path: Path, device: torch.device | str = "cpu") -> dict:
    try:
        return torch.load(path, map_location=device, weights_only=True)
    except Exception as exc:  # unpickling errors come in many types; all mean the same to the user
        raise CheckpointError(f"cannot read training checkpoint {path}: {exc}") from None


def load_matching(module: nn.Module, state: dict[str, torch.Tensor]) -> tuple[int, list[str]]:
    """NVIDIA's ``load_network`` fallback: copy every tensor whose key and shape match.

    Returns (number copied, sorted top-level names left at their initial values).
    """
    own = module.state_dict()
    copied = {k: v for k, v in state.items() if k in own and tuple(v.shape) == tuple(own[k].shape)}
    own.update(copied)
    module.load_state_dict(own, strict=True)
    untouched = sorted({k.split(".")[0] for k in own if k not in copied})
    return len(copied), untouched


def pretrained_states(path: str | Path, which_epoch: str = "latest") -> dict[str, dict[str, torch.Tensor]]:
    """Network state dicts (``G``, and ``E`` / ``D`` when present) from a run directory, a bundle or an
    NVIDIA checkpoint directory (``latest_net_G.pth`` ...; read with ``weights_only=True``)."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"--load_pretrain {path} does not exist")
    if (path / "G.safetensors").is_file():
        from safetensors.torch import load_file

        out = {"G": load_file(str(path / "G.safetensors"))}
        if (path / "E.safetensors").is_file():
            out["E"] = load_file(str(path / "E.safetensors"))
        return out
    if (path / f"{which_epoch}_net_G.pth").is_file():  # an NVIDIA checkpoints/<name>/ directory
        out = {}
        for net in ("G", "E", "D"):
            pth = path / f"{which_epoch}_net_{net}.pth"
            if pth.is_file():
                state = load_training_state(pth)
                out[net] = {k.removeprefix("module."): v for k, v in state.items()}
        return out
    state = load_training_state(resolve_checkpoint(path, which_epoch))
    return {k: state[k] for k in ("G", "E", "D") if state.get(k)}
