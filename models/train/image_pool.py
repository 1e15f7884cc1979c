"""NVIDIA's history of generated images for the discriminator (Shrivastava et al.)."""

from __future__ import annotations

import random

import torch


class ImagePool:
    """Keeps up to ``pool_size`` past fakes; each query returns, per image, either it or (p = 0.5)
    a stored one that it replaces. ``pool_size`` 0 returns the input unchanged."""

    def __init__(self, pool_size: int, seed: int = 0):
        self.pool_size = pool_size
        self.images: list[torch.Tensor] = []
        self.rng = random.Random(seed)

    def query(self, images: torch.Tensor) -> torch.Tensor:
        if self.pool_size == 0:
            return images
        out = []
        for image in images.detach():
            image = image.unsqueeze(0)
            if len(self.images) < self.pool_size:
                self.images.append(image)
                out.append(image)
            elif self.rng.uniform(0, 1) > 0.5:
                slot = self.rng.randint(0, self.pool_size - 1)
                out.append(self.images[slot].clone())
                self.images[slot] = image
            else:
                out.append(image)
        return torch.cat(out, 0)

    def state_dict(self) -> dict:
        return {
            "images": [t.cpu() for t in self.images],
            "rng": list(self.rng.getstate()[1]),
            "rng_version": self.rng.getstate()[0],
            "rng_gauss": self.rng.getstate()[2],
        }

    def load_state_dict(self, state: dict, device: torch.device | str = "cpu") -> None:
        self.images = [t.to(device) for t in state["images"]]
        self.rng.setstate((state["rng_version"], tuple(state["rng"]), state["rng_gauss"]))
