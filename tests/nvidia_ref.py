"""NVIDIA's reference pix2pixHD (PyPI ``pix2pixhd==1.0``) imported without torchvision.

Its ``networks`` module imports ``torchvision.models`` at top level for the VGG loss only; a stub
module stands in for that one import and is removed again, so torchvision never becomes a
dependency and other tests do not see the stub.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from types import SimpleNamespace

import numpy as np
import pytest
import torch


def import_nvidia():
    """(networks, Pix2PixHDModel) from NVIDIA's package, or skip the calling test with the reason."""
    if importlib.util.find_spec("pix2pixhd") is None:
        pytest.skip("NVIDIA's reference code is not installed: pip install --no-deps pix2pixhd==1.0")
    added = "torchvision" not in sys.modules
    if added:
        stub = types.ModuleType("torchvision")
        stub.models = types.ModuleType("torchvision.models")
        sys.modules["torchvision"] = stub
        sys.modules["torchvision.models"] = stub.models
    try:
        networks = importlib.import_module("pix2pixhd.models.networks")
        model_mod = importlib.import_module("pix2pixhd.models.pix2pixHD_model")
    finally:
        if added:
            sys.modules.pop("torchvision", None)
            sys.modules.pop("torchvision.models", None)
    return networks, model_mod.Pix2PixHDModel


def nvidia_input(label: np.ndarray, inst: np.ndarray, label_nc: int, no_instance: bool = False) -> torch.Tensor:
    """One-hot + edges through NVIDIA's own ``encode_input`` / ``get_edges`` on CPU (fp32).

    ``label`` arrives as the float tensor NVIDIA's loader makes (``ToTensor(img) * 255``).
    """
    _, model_cls = import_nvidia()
    fake = SimpleNamespace(
        opt=SimpleNamespace(
            label_nc=label_nc, data_type=32, no_instance=no_instance, load_features=False, label_feat=False
        ),
        gpu_ids=[],
        Tensor=torch.FloatTensor,
        use_features=False,
    )
    fake.get_edges = lambda t: model_cls.get_edges(fake, t)
    label_t = torch.from_numpy(label.astype(np.float32))[None, None].div(255.0) * 255.0
    inst_t = torch.from_numpy(inst.astype(np.float32))[None, None]
    input_label, _, _, _ = model_cls.encode_input(fake, label_t, inst_t)
    return input_label


def nvidia_ui_features(inst: np.ndarray, clusters: dict, feat_num: int) -> torch.Tensor:
    """NVIDIA's ``ui_model.load_image`` default styles: seed ``i + 1``, then ``randint(0, k)``."""
    h, w = inst.shape
    object_map = torch.from_numpy(inst.astype(np.float32))[None, None]
    feat_map = torch.zeros(1, feat_num, h, w)
    state = np.random.get_state()
    try:
        for i in np.unique(inst.astype(int)):
            label = i if i < 1000 else i // 1000
            if label in clusters:
                feat = clusters[label]
                np.random.seed(i + 1)
                cluster_idx = np.random.randint(0, feat.shape[0])
                idx = (object_map == i).nonzero()
                for k in range(feat_num):
                    feat_map[idx[:, 0], idx[:, 1] + k, idx[:, 2], idx[:, 3]] = float(feat[cluster_idx, k])
    finally:
        np.random.set_state(state)
    return feat_map


def tensor2im(image_tensor: torch.Tensor) -> np.ndarray:
    """NVIDIA's own ``util.tensor2im`` (normalize=True) on one C x H x W image."""
    import_nvidia()
    return importlib.import_module("pix2pixhd.util.util").tensor2im(image_tensor)


def nvidia_G(cfg):
    """NVIDIA's ``define_G`` for one of our configs (NVIDIA's own initialisation)."""
    networks, _ = import_nvidia()
    return networks.define_G(
        cfg.netG_input_nc,
        cfg.output_nc,
        cfg.ngf,
        cfg.netG,
        cfg.n_downsample_global,
        cfg.n_blocks_global,
        cfg.n_local_enhancers,
        cfg.n_blocks_local,
    )


def make_nvidia_nets(cfg, seed: int = 0, std: float = 0.1):
    """NVIDIA's own G (and E for feature models) from ``define_G``, with weights wide enough that
    the output spans the whole grey range (NVIDIA's N(0, 0.02) init gives a nearly flat image)."""
    networks, _ = import_nvidia()
    torch.manual_seed(seed)
    G = nvidia_G(cfg)
    E = None
    if cfg.instance_feat:
        E = networks.define_G(cfg.output_nc, cfg.feat_num, cfg.nef, "encoder", cfg.n_downsample_E)
    with torch.no_grad():
        for net in (G, E):
            for p in net.parameters() if net is not None else ():
                p.normal_(0.0, std)
    return G.eval(), E.eval() if E is not None else None


def make_clusters(feat_num: int, seed: int = 0) -> dict[int, np.ndarray]:
    """Cluster centres as NVIDIA's encode_features saves them: float64 ``{class: (k, feat_num)}``."""
    rng = np.random.default_rng(seed)
    return {label: rng.normal(size=(k, feat_num)) for label, k in ((7, 3), (11, 10), (24, 10), (26, 4))}


def save_nvidia_checkpoint(directory, cfg, seed: int = 0, which: str = "latest"):
    """Write ``<which>_net_G.pth`` (+ ``_net_E.pth`` and ``features_clustered_010.npy`` for feature
    models) exactly as NVIDIA's ``save_network`` / ``encode_features`` do. Returns (G, E, clusters)."""
    G, E = make_nvidia_nets(cfg, seed)
    torch.save(G.state_dict(), directory / f"{which}_net_G.pth")
    clusters = None
    if E is not None:
        torch.save(E.state_dict(), directory / f"{which}_net_E.pth")
        clusters = make_clusters(cfg.feat_num, seed)
        np.save(directory / "features_clustered_010.npy", clusters)
    return G, E, clusters
