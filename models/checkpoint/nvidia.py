"""Load an NVIDIA pix2pixHD checkpoint directory (``latest_net_G.pth`` ...) as a :class:`Bundle`.

The architecture is not stored by NVIDIA, so it is inferred from tensor names and shapes, then
confirmed by building our networks and comparing every key and shape (strict load). Weights are
read with ``torch.load(weights_only=True)``; the cluster ``.npy`` goes through :mod:`.safe_pickle`.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import torch
from p2phd.models.checkpoint.bundle import Bundle, check_state_dict
from p2phd.models.checkpoint.safe_pickle import load_feature_clusters
from p2phd.models.config import ModelConfig
from p2phd.models.errors import CheckpointError
from p2phd.models.labels import LABEL_NC

_BLOCK = re.compile(r"^(\d+)\.conv_block\.")
_INDEX = re.compile(r"^(\d+)\.weight$")


def _pick(directory: Path, suffix: str) -> Path | None:
    """``latest_<suffix>`` if present, else the highest-numbered epoch, else None."""
    latest = directory / f"latest_{suffix}"
    if latest.is_file():
        return latest
    candidates = sorted(directory.glob(f"*_{suffix}"))
    if not candidates:
        return None
    numbered = [p for p in candidates if p.name[: -len(suffix) - 1].isdigit()]
    if numbered:
        return max(numbered, key=lambda p: int(p.name[: -len(suffix) - 1]))
    return candidates[-1]


def load_state_file(path: Path) -> dict[str, torch.Tensor]:
    """Tensors only (``weights_only=True``); a 'module.' prefix (DataParallel) is stripped."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"checkpoint file not found: {path}") from None
    except Exception as exc:  # truncated zip, unsafe pickle, garbage: torch raises many types
        first = (str(exc) or exc.__class__.__name__).splitlines()[0]
        raise CheckpointError(f"cannot load {path.name} (truncated, corrupt or not weights-only): {first}") from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not state or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{path.name} does not hold a state dict of tensors")
    if all(k.startswith("module.") for k in state):
        state = {k[len("module.") :]: v for k, v in state.items()}
    return {k: v.float() if v.is_floating_point() else v for k, v in state.items()}


def _sequential(state: dict[str, torch.Tensor], prefix: str) -> tuple[list[torch.Tensor], int]:
    """Weights of the plain convs of an ``nn.Sequential`` (in order) and its number of ResnetBlocks."""
    convs: dict[int, torch.Tensor] = {}
    blocks: set[int] = set()
    for key, value in state.items():
        if not key.startswith(prefix):
            continue
        rest = key[len(prefix) :]
        if m := _BLOCK.match(rest):
            blocks.add(int(m.group(1)))
        elif (m := _INDEX.match(rest)) and value.ndim == 4:
            convs[int(m.group(1))] = value
    return [convs[i] for i in sorted(convs)], len(blocks)


def _n_down(n_convs: int, extra: int, what: str) -> int:
    # n_convs = first 7x7 conv + n down convs + n transposed convs + ``extra`` output convs.
    n, odd = divmod(n_convs - 1 - extra, 2)
    if odd or n < 0:
        raise CheckpointError(f"cannot infer the architecture of {what}: unexpected layer layout")
    return n


def infer_config(
    G_state: dict[str, torch.Tensor],
    E_state: dict[str, torch.Tensor] | None = None,
    feat_num_hint: int | None = None,
    label_nc: int = LABEL_NC,
) -> ModelConfig:
    """ModelConfig from NVIDIA's tensor names and shapes (``label_nc`` cannot be inferred)."""
    if "model.1.weight" not in G_state:
        raise CheckpointError("not a pix2pixHD generator: no 'model.1.weight' tensor")
    first = G_state["model.1.weight"]
    if first.ndim != 4:
        raise CheckpointError(f"not a pix2pixHD generator: 'model.1.weight' has shape {tuple(first.shape)}, not 4-D")
    fields: dict = {"label_nc": label_nc}
    n_local = len({k.split(".")[0] for k in G_state if re.match(r"^model\d+_1\.", k)})
    global_convs, fields["n_blocks_global"] = _sequential(G_state, "model.")
    if not global_convs:
        raise CheckpointError("not a pix2pixHD generator: no convolutions in 'model'")
    if n_local:
        local_convs, fields["n_blocks_local"] = _sequential(G_state, "model1_2.")
        last_down = G_state.get(f"model{n_local}_1.1.weight")
        if last_down is None or last_down.ndim != 4:
            raise CheckpointError(f"local enhancer {n_local} has no first convolution")
        fields.update(
            netG="local",
            n_local_enhancers=n_local,
            ngf=int(last_down.shape[0]),
            n_downsample_global=_n_down(len(global_convs), 0, "the global generator"),
        )
    else:
        fields.update(
            netG="global",
            ngf=int(global_convs[0].shape[0]),
            n_downsample_global=_n_down(len(global_convs), 1, "the generator"),
        )
    input_nc = int(G_state["model.1.weight"].shape[1])
    local_out = _sequential(G_state, f"model{n_local}_2.")[0] if n_local else global_convs
    if not local_out:
        raise CheckpointError(f"local enhancer {n_local} has no output convolution")
    output_conv = local_out[-1]
    fields["output_nc"] = int(output_conv.shape[0])

    extra = input_nc - label_nc
    if E_state is not None:
        e_convs, _ = _sequential(E_state, "model.")
        if not e_convs:
            raise CheckpointError("not a pix2pixHD encoder: no 'model.N.weight' tensors")
        fields.update(nef=int(e_convs[0].shape[0]), n_downsample_E=_n_down(len(e_convs), 1, "the encoder"))
        feat_num_hint = int(e_convs[-1].shape[0])
    if extra < 0:
        raise CheckpointError(f"generator takes {input_nc} input channels, fewer than label_nc={label_nc}")
    if feat_num_hint is not None and extra >= feat_num_hint:
        fields.update(instance_feat=True, feat_num=feat_num_hint)
        extra -= feat_num_hint
    elif extra > 1:  # features without E or clusters: assume the instance edge map is used too
        fields.update(instance_feat=True, feat_num=extra - 1)
        extra = 1
    if extra not in (0, 1):
        raise CheckpointError(
            f"generator input has {input_nc} channels: does not fit label_nc={label_nc}"
            f"{'' if feat_num_hint is None else f' with {feat_num_hint} features'}"
        )
    fields["no_instance"] = extra == 0
    return ModelConfig(**fields)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fp:
        for chunk in iter(lambda: fp.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def find_files(path: Path) -> tuple[Path, Path | None, Path | None]:
    """(G, E or None, clusters or None) of an NVIDIA checkpoint directory."""
    G_path = _pick(path, "net_G.pth")
    if G_path is None:
        raise CheckpointError(f"{path} has no *_net_G.pth")
    which = G_path.name[: -len("_net_G.pth")]
    E_path = path / f"{which}_net_E.pth"
    clusters = sorted(path.glob("features_clustered_*.npy"))
    return G_path, E_path if E_path.is_file() else None, clusters[-1] if clusters else None


def load_nvidia_dir(path: str | Path, label_nc: int = LABEL_NC, with_hashes: bool = False) -> Bundle:
    """An NVIDIA checkpoint directory as a Bundle on the CPU (networks in eval mode)."""
    path = Path(path)
    if not path.is_dir():
        raise CheckpointError(f"not a directory: {path}")
    G_path, E_path, clusters_path = find_files(path)
    G_state = load_state_file(G_path)
    E_state = load_state_file(E_path) if E_path else None
    clusters = load_feature_clusters(clusters_path) if clusters_path else {}
    widths = {v.shape[1] for v in clusters.values() if len(v)}
    config = infer_config(G_state, E_state, next(iter(widths)) if widths else None, label_nc)
    if widths and widths != {config.feat_num}:
        raise CheckpointError(
            f"{clusters_path.name} has {widths.pop()} features per cluster, the networks use {config.feat_num}"
        )
    files = [p for p in (G_path, E_path, clusters_path) if p is not None]
    provenance = {"source": "nvidia", "name": path.name, "files": [p.name for p in files]}
    if with_hashes:
        provenance["sha256"] = {p.name: sha256_of(p) for p in files}
    config = config.replace(provenance=provenance)

    G = config.build_G()
    check_state_dict(G, G_state, G_path.name)
    G.load_state_dict(G_state, strict=True)
    E = None
    if E_state is not None:
        E = config.build_E()
        check_state_dict(E, E_state, E_path.name)
        E.load_state_dict(E_state, strict=True)
    clusters = {k: v for k, v in clusters.items() if len(v)} if config.instance_feat else clusters
    return Bundle(config, G.eval(), E.eval() if E is not None else None, clusters, path, "nvidia")
