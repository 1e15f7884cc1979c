"""VGG19 perceptual loss. Weights come only from a local file the user names; nothing is downloaded."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

# torchvision's vgg19().features, as (out_channels or "M" for max-pool).
_VGG19_CFG = [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512]
# NVIDIA's slices of ``features``: relu1_1, relu2_1, relu3_1, relu4_1, relu5_1.
_SLICES = [(0, 2), (2, 7), (7, 12), (12, 21), (21, 30)]


def _vgg19_features() -> list[nn.Module]:
    layers: list[nn.Module] = []
    in_ch = 3
    for v in _VGG19_CFG:
        if v == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        else:
            layers += [nn.Conv2d(in_ch, v, kernel_size=3, padding=1), nn.ReLU(inplace=True)]
            in_ch = v
    return layers


class Vgg19(nn.Module):
    """NVIDIA's five-slice VGG19 (``slice1`` .. ``slice5``), frozen."""

    def __init__(self):
        super().__init__()
        features = _vgg19_features()
        for k, (a, b) in enumerate(_SLICES, start=1):
            s = nn.Sequential()
            for i in range(a, b):
                s.add_module(str(i), features[i])
            setattr(self, f"slice{k}", s)
        self.requires_grad_(False)

    def load_torchvision_weights(self, path: str | Path) -> None:
        """Load ``features.*`` from a torchvision VGG19 state dict (.pth via weights_only, or .safetensors)."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"VGG19 weights not found: {path}")
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            try:
                state = torch.load(path, map_location="cpu", weights_only=True)
            except Exception as exc:  # pickle refusals and corrupt archives alike
                raise ValueError(f"cannot read VGG19 weights {path}: {exc}") from None
        mapped = {}
        for k, (a, b) in enumerate(_SLICES, start=1):
            for i in range(a, b):
                for p in ("weight", "bias"):
                    key = f"features.{i}.{p}"
                    if key in state:
                        mapped[f"slice{k}.{i}.{p}"] = state[key]
        try:
            self.load_state_dict(mapped, strict=True)
        except RuntimeError as exc:
            raise ValueError(f"{path} is not a torchvision VGG19 state dict: {str(exc).splitlines()[0]}") from None

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        outs = []
        for k in range(1, 6):
            x = getattr(self, f"slice{k}")(x)
            outs.append(x)
        return outs


class VGGLoss(nn.Module):
    """Weighted L1 between VGG19 activations, NVIDIA's weights 1/32 .. 1."""

    weights = (1.0 / 32, 1.0 / 16, 1.0 / 8, 1.0 / 4, 1.0)

    def __init__(self, weights_path: str | Path):
        super().__init__()
        self.vgg = Vgg19()
        self.vgg.load_torchvision_weights(weights_path)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        x_vgg, y_vgg = self.vgg(x), self.vgg(y)
        loss = 0.0
        for w, a, b in zip(self.weights, x_vgg, y_vgg, strict=True):
            loss = loss + w * F.l1_loss(a.float(), b.detach().float())
        return loss
