"""The fp32 reference inference path: maps in, uint8 photo out, exactly as NVIDIA computes it.

``p2phd synthesize`` and the editor render with the fast engine (:mod:`p2phd.models.engine`);
:func:`synthesize` is the reference they are tested against (NVIDIA parity, the benchmark's PSNR).
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping

import numpy as np
import torch
from p2phd.models.checkpoint.bundle import Bundle
from p2phd.models.engine.precision import torch_dtype
from p2phd.models.errors import InputMapError
from p2phd.models.inputs.network_input import Style, encode_input, feature_map, validate_maps
from p2phd.models.maps_io import nvidia_test_size, resize_nearest


def output_size(bundle: Bundle, label: np.ndarray, size: tuple[int, int] | None = None) -> tuple[int, int]:
    """(w, h): ``size``, else the bundle's native size, else the map's size rounded as NVIDIA does."""
    cfg = bundle.config
    base = cfg.size_multiple
    if size is None and cfg.native_width and cfg.native_height:
        size = (cfg.native_width, cfg.native_height)
    if size is None:
        return nvidia_test_size(label.shape[1], label.shape[0], base)
    w, h = size
    if w <= 0 or h <= 0 or w % base or h % base:
        raise InputMapError(f"size {w}x{h}: this model needs width and height that are positive multiples of {base}")
    return w, h


def tensor2im(image: torch.Tensor) -> np.ndarray:
    """NVIDIA's ``util.tensor2im``: C x H x W in [-1, 1] -> H x W x 3 uint8 (float math, then cast)."""
    image_numpy = image.detach().cpu().float().numpy()
    image_numpy = (np.transpose(image_numpy, (1, 2, 0)) + 1) / 2.0 * 255.0
    image_numpy = np.clip(image_numpy, 0, 255)
    return image_numpy.astype(np.uint8)


def _autocast(device: torch.device, precision: str):
    if precision in ("fp32", "auto"):
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch_dtype(precision))


def synthesize(
    bundle: Bundle,
    label: np.ndarray,
    inst: np.ndarray | None = None,
    styles: Mapping[int, Style] | None = None,
    size: tuple[int, int] | None = None,
    device: str | torch.device = "cpu",
    precision: str = "fp32",
) -> np.ndarray:
    """One label map (uint8 H x W ids) and optional instance map -> uint8 H' x W' x 3 photo.

    Maps are resized (nearest) to :func:`output_size`; without ``inst`` the label map serves as
    the instance map; instance-feature models get NVIDIA's default cluster per object unless
    ``styles`` names one. ``bundle``'s networks must already be on ``device``.
    """
    cfg = bundle.config
    device = torch.device(device)
    validate_maps(label, inst, cfg.label_nc)
    w, h = output_size(bundle, label, size)
    label = resize_nearest(label, (w, h))
    inst = resize_nearest(inst, (w, h)) if inst is not None else None
    feat = None
    if cfg.instance_feat:
        objects = inst if inst is not None else label.astype(np.int32)
        feat = feature_map(objects, bundle.clusters, cfg.feat_num, styles)
    elif styles:
        raise InputMapError("--style needs an instance-feature model; this one has no feature clusters")
    net_input = encode_input(cfg, label, inst, feat, device=device)
    with torch.inference_mode(), _autocast(device, precision):
        fake = bundle.G(net_input)
    return tensor2im(fake[0])
