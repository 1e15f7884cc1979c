"""Inference bundles: a directory with ``config.json``, ``G.safetensors``, optional
``E.safetensors``, ``clusters.npz`` (one array per class, never pickled) and an optional object
library (see :mod:`p2phd.models.features.library`). Load any model directory through
:mod:`p2phd.models.checkpoint.loader`; this module knows only its own format.
"""

from __future__ import annotations

import io
import os
import shutil
import tempfile
import uuid
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from p2phd.models.config import ModelConfig
from p2phd.models.errors import CheckpointError
from p2phd.models.mapfiles.atomic import atomic_write
from torch import nn

#: Every file a bundle may hold; a directory with anything else is not (only) a bundle.
BUNDLE_FILES = frozenset(
    {"config.json", "G.safetensors", "E.safetensors", "clusters.npz", "library.json", "library.npz"}
)
#: clusters.npz holds per class at most a few dozen centres of a few features: kilobytes. The
#: declared (uncompressed) sizes are checked before anything is decompressed.
MAX_CLUSTERS_BYTES = 16 << 20


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


def clusters_npz(clusters: dict[int, np.ndarray]) -> bytes:
    """The content of ``clusters.npz``: one float32 array ``class_<id>`` per class."""
    arrays = {f"class_{int(k)}": np.asarray(v, dtype=np.float32) for k, v in clusters.items()}
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def save_clusters(path: Path, clusters: dict[int, np.ndarray]) -> None:
    atomic_write(path, clusters_npz(clusters))


def _check_declared_sizes(path: Path) -> None:
    """Refuse a clusters.npz whose members would decompress (or allocate) past MAX_CLUSTERS_BYTES,
    from the zip directory and each array's .npy header, before any data is read."""
    with zipfile.ZipFile(path) as archive:
        infos = archive.infolist()
        total = sum(info.file_size for info in infos)
        if total > MAX_CLUSTERS_BYTES:
            raise CheckpointError(f"{path}: members declare {total} bytes, more than clusters can need")
        for info in infos:
            with archive.open(info) as fp:
                fmt = np.lib.format
                version = fmt.read_magic(fp)
                read_header = fmt.read_array_header_1_0 if version == (1, 0) else fmt.read_array_header_2_0
                shape, _, dtype = read_header(fp)
            if int(np.prod(shape, dtype=np.float64)) * dtype.itemsize > info.file_size:
                raise CheckpointError(f"{path}: {info.filename} declares shape {shape}, larger than its data")


def load_clusters(path: Path) -> dict[int, np.ndarray]:
    try:
        _check_declared_sizes(path)
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
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise CheckpointError(f"cannot read clusters {path}: {exc}") from None


def _state_dict_to_cpu(module_or_state) -> dict[str, torch.Tensor]:
    state = module_or_state.state_dict() if isinstance(module_or_state, nn.Module) else module_or_state
    return {k: v.detach().to("cpu", torch.float32).contiguous() for k, v in state.items()}


def check_bundle_target(out_dir: Path, replace: bool) -> None:
    """Refuse to write a bundle where it would destroy anything that is not an old bundle: ``out_dir``
    may be absent, an empty directory, or (with ``replace``) a directory holding only bundle files."""
    if out_dir.is_symlink() or (out_dir.exists() and not out_dir.is_dir()):
        raise CheckpointError(f"{out_dir} exists and is not a directory; choose a new folder for the bundle")
    if not out_dir.exists():
        return
    entries = sorted(p.name for p in out_dir.iterdir())
    if not entries:
        return
    foreign = [name for name in entries if name not in BUNDLE_FILES]
    if foreign or "config.json" not in entries:
        shown = ", ".join(foreign[:3]) + (" ..." if len(foreign) > 3 else "") if foreign else "no config.json"
        raise CheckpointError(f"{out_dir} is not empty and not a bundle ({shown}); choose a new or empty folder")
    if not replace:
        raise CheckpointError(f"{out_dir} already holds a bundle; pass --force to replace it")


def save_bundle(
    out_dir: str | Path,
    config: ModelConfig,
    G,
    E=None,
    clusters: dict[int, np.ndarray] | None = None,
    extra_files: dict[str, Path] | None = None,
    replace: bool = False,
) -> Path:
    """Write a bundle atomically: into a temporary sibling directory, then renamed over ``out_dir``.

    ``out_dir`` must be absent or empty, or, with ``replace``, an existing bundle: nothing else is
    ever deleted (:func:`check_bundle_target`)."""
    from safetensors.torch import save_file

    out_dir = Path(out_dir)
    check_bundle_target(out_dir, replace)
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
            check_bundle_target(out_dir, replace)  # again: it may have changed while we wrote
            old = out_dir.with_name(f".{out_dir.name}.old-{uuid.uuid4().hex[:8]}")  # a fresh name: ours
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
        if not state[k].is_floating_point():  # an int tensor would be cast silently by load_state_dict
            raise CheckpointError(f"{origin}: tensor {k} is {state[k].dtype}, expected floating point weights")


def load_bundle_dir(path: str | Path) -> Bundle:
    """Our bundle format, networks on the CPU (use :func:`p2phd.models.checkpoint.loader.load_bundle`
    for any model directory)."""
    path = Path(path)
    if not (path / "config.json").is_file():
        raise CheckpointError(f"{path} is not a bundle (no config.json)")
    config = ModelConfig.load(path / "config.json")
    if not (path / "G.safetensors").is_file():
        raise CheckpointError(f"{path} has no G.safetensors")
    G = config.build_G()
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
    return Bundle(config, G.eval(), E.eval() if E is not None else None, clusters, path, "bundle")
