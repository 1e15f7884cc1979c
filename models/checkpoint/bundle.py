"""Inference bundles: a directory with ``config.json``, ``G.safetensors``, optional
``E.safetensors``, ``clusters.npz`` (one array per class, never pickled) and an optional object
library (see :mod:`p2phd.models.features.library`). :func:`load_bundle` also accepts an NVIDIA checkpoint directory.
"""

from __future__ import annotations

import io
import os
import shutil
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from p2phd.models.config import ModelConfig
from p2phd.models.errors import CheckpointError
from p2phd.models.mapfiles.atomic import atomic_write
from torch import nn

ENV_VAR = "P2PHD_CHECKPOINT"


@dataclass
class Bundle:
    config: ModelConfig
    G: nn.Module
    E: nn.Module | None = None
    clusters: dict[int, np.ndarray] = field(default_factory=dict)
    path: Path | None = None
    source: str = "bundle"  # or "nvidia"

    @property
    def model_id(self) -> str:
        return str(self.config.provenance.get("name") or (self.path.name if self.path else "unnamed"))


def find_checkpoint(explicit: str | os.PathLike | None = None) -> Path:
    """Explicit path, then ``$P2PHD_CHECKPOINT``, then the demo bundle installed with the package."""
    for candidate, origin in ((explicit, "given"), (os.environ.get(ENV_VAR), f"${ENV_VAR}")):
        if candidate:
            path = Path(candidate)
            if not path.exists():
                raise CheckpointError(f"checkpoint {origin} does not exist: {path}")
            return path
    from p2phd.checkpoints import DEMO  # installed with the package (wheel) or the source tree (editable)

    if (DEMO / "config.json").is_file():
        return DEMO
    raise CheckpointError(f"no checkpoint given: pass --checkpoint DIR or set ${ENV_VAR}")


def clusters_npz(clusters: dict[int, np.ndarray]) -> bytes:
    """The content of ``clusters.npz``: one float32 array ``class_<id>`` per class."""
    arrays = {f"class_{int(k)}": np.asarray(v, dtype=np.float32) for k, v in clusters.items()}
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def save_clusters(path: Path, clusters: dict[int, np.ndarray]) -> None:
    atomic_write(path, clusters_npz(clusters))


def load_clusters(path: Path) -> dict[int, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as data:
            out = {}
            for key in data.files:
                if not key.startswith("class_"):
                    raise CheckpointError(f"{path}: unexpected array {key!r}")
                arr = data[key]
                if arr.ndim != 2 or arr.dtype.kind != "f":
                    raise CheckpointError(f"{path}: {key} must be a 2-D float array")
                out[int(key[len("class_") :])] = arr.astype(np.float32)
            return out
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise CheckpointError(f"cannot read clusters {path}: {exc}") from None


def _state_dict_to_cpu(module_or_state) -> dict[str, torch.Tensor]:
    state = module_or_state.state_dict() if isinstance(module_or_state, nn.Module) else module_or_state
    return {k: v.detach().to("cpu", torch.float32).contiguous() for k, v in state.items()}


def save_bundle(
    out_dir: str | Path,
    config: ModelConfig,
    G,
    E=None,
    clusters: dict[int, np.ndarray] | None = None,
    extra_files: dict[str, Path] | None = None,
) -> Path:
    """Write a bundle atomically: into a temporary sibling directory, then renamed over ``out_dir``."""
    from safetensors.torch import save_file

    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        config.save(tmp / "config.json")
        save_file(_state_dict_to_cpu(G), str(tmp / "G.safetensors"))
        if E is not None:
            save_file(_state_dict_to_cpu(E), str(tmp / "E.safetensors"))
        if clusters:
            save_clusters(tmp / "clusters.npz", clusters)
        for name, src in (extra_files or {}).items():
            shutil.copy2(src, tmp / name)
        if out_dir.exists():
            old = out_dir.with_name(f".{out_dir.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(out_dir, old)
            os.replace(tmp, out_dir)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir


def load_state(module: nn.Module, path: Path) -> None:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        state = load_file(str(path))
    except (OSError, SafetensorError, ValueError) as exc:
        raise CheckpointError(f"cannot read {path}: {exc}") from None
    check_state_dict(module, state, path)
    module.load_state_dict(state, strict=True)


def check_state_dict(module: nn.Module, state: dict[str, torch.Tensor], origin) -> None:
    """Same keys and shapes as ``module``, or a CheckpointError naming the first differences."""
    expected = {k: tuple(v.shape) for k, v in module.state_dict().items()}
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing {len(missing)} tensors (e.g. {missing[0]})")
        if unexpected:
            parts.append(f"unexpected {len(unexpected)} tensors (e.g. {unexpected[0]})")
        raise CheckpointError(f"{origin} does not match the architecture: " + ", ".join(parts))
    for k, shape in expected.items():
        if tuple(state[k].shape) != shape:
            raise CheckpointError(f"{origin}: tensor {k} has shape {tuple(state[k].shape)}, expected {shape}")


def is_nvidia_dir(path: Path) -> bool:
    return path.is_dir() and not (path / "config.json").exists() and any(path.glob("*net_G.pth"))


def load_bundle(path: str | Path, device: str | torch.device = "cpu") -> Bundle:
    """Load our bundle or an NVIDIA checkpoint directory, networks in eval mode on ``device``."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"checkpoint not found: {path}")
    if is_nvidia_dir(path):
        from p2phd.models.checkpoint.nvidia import load_nvidia_dir

        bundle = load_nvidia_dir(path)
    else:
        if not (path / "config.json").is_file():
            raise CheckpointError(
                f"{path} is neither a bundle (no config.json) nor an NVIDIA checkpoint (no *_net_G.pth)"
            )
        config = ModelConfig.load(path / "config.json")
        G = config.build_G()
        if not (path / "G.safetensors").is_file():
            raise CheckpointError(f"{path} has no G.safetensors")
        load_state(G, path / "G.safetensors")
        E = None
        if (path / "E.safetensors").is_file():
            E = config.build_E()
            load_state(E, path / "E.safetensors")
        clusters = load_clusters(path / "clusters.npz") if (path / "clusters.npz").is_file() else {}
        for cls_id, centres in clusters.items():
            if centres.shape[1] != config.feat_num:
                raise CheckpointError(
                    f"clusters of class {cls_id} have {centres.shape[1]} features, config says {config.feat_num}"
                )
        bundle = Bundle(config, G, E, clusters, path, "bundle")
    bundle.G.to(device).eval()
    if bundle.E is not None:
        bundle.E.to(device).eval()
    return bundle
