"""The fp32 reference inference path: maps in, uint8 photo out, as NVIDIA computes it (rounded to 8 bits).

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
from p2phd.models.mapfiles.resize import resize_nearest
from p2phd.models.mapfiles.sizing import render_size
from p2phd.models.mapfiles.to_image import to_uint8_image


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

    Maps are resized (nearest) to :func:`p2phd.models.mapfiles.sizing.render_size` (``size``, else
    the one sizing rule); without ``inst`` the label map serves as
    the instance map; instance-feature models get NVIDIA's default cluster per object unless
    ``styles`` names one. ``bundle``'s networks must already be on ``device``.
    """
    cfg = bundle.config
    device = torch.device(device)
    validate_maps(label, inst, cfg.label_nc)
    w, h = render_size(cfg, (label.shape[1], label.shape[0]), size)
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
    return to_uint8_image(fake[0])
