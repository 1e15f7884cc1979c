"""Our networks have NVIDIA's parameter names and shapes, and the architecture is recoverable from them."""

from __future__ import annotations

import pytest
import torch
from nvidia_ref import import_nvidia, nvidia_G
from p2phd.models.checkpoint.bundle import check_state_dict
from p2phd.models.checkpoint.nvidia import infer_config
from p2phd.models.config import ARCHS
from p2phd.models.networks.discriminator import MultiscaleDiscriminator

FEATURE_CONFIG = ARCHS["label2city_1024p"].replace(instance_feat=True, feat_num=3)
CONFIGS = {
    "label2city_1024p": ARCHS["label2city_1024p"],
    "label2city_512p": ARCHS["label2city_512p"],
    "instance_feat_1024p": FEATURE_CONFIG,
}


def shapes(module: torch.nn.Module) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in module.state_dict().items()}


@pytest.mark.parametrize("name", CONFIGS)
def test_generator_keys_and_shapes_match_nvidia(name):
    cfg = CONFIGS[name]
    with torch.device("meta"):
        ours, theirs = cfg.build_G(), nvidia_G(cfg)
    assert shapes(ours) == shapes(theirs)
    check_state_dict(ours, theirs.state_dict(), name)  # raises on any difference


@pytest.mark.parametrize("name", CONFIGS)
def test_architecture_is_inferred_from_nvidia_tensors(name):
    cfg = CONFIGS[name]
    networks, _ = import_nvidia()
    with torch.device("meta"):
        G = nvidia_G(cfg)
        E = networks.define_G(cfg.output_nc, cfg.feat_num, cfg.nef, "encoder", cfg.n_downsample_E)
    inferred = infer_config(G.state_dict(), E.state_dict() if cfg.instance_feat else None)
    assert inferred == cfg.replace(native_width=None, native_height=None)


def test_encoder_keys_and_shapes_match_nvidia():
    networks, _ = import_nvidia()
    cfg = FEATURE_CONFIG
    with torch.device("meta"):
        ours = cfg.build_E()
        theirs = networks.define_G(cfg.output_nc, cfg.feat_num, cfg.nef, "encoder", cfg.n_downsample_E)
    assert shapes(ours) == shapes(theirs)


@pytest.mark.parametrize("interm", [True, False])
def test_discriminator_keys_and_shapes_match_nvidia(interm):
    networks, _ = import_nvidia()
    input_nc = 35 + 1 + 3  # label one-hot + edges + image, as NVIDIA's netD_input_nc
    with torch.device("meta"):
        ours = MultiscaleDiscriminator(input_nc, 64, 3, False, num_D=2, getIntermFeat=interm)
        theirs = networks.define_D(input_nc, 64, 3, "instance", False, 2, interm)
    assert shapes(ours) == shapes(theirs)
    assert any(k.startswith("scale0_layer") for k in shapes(ours)) == interm
