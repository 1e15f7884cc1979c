"""Small synthetic scenes in pix2pixHD's layout, for tests and smoke runs (no real data needed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from p2phd.models.labels import PALETTE
from p2phd.models.mapfiles.writing import write_maps, write_photo


def synthetic_scene(rng: np.random.Generator, width: int = 64, height: int = 32) -> tuple[np.ndarray, ...]:
    """(label uint8, instance int32, photo uint8 RGB): sky, building, road and 1-3 cars."""
    label = np.full((height, width), 23, np.uint8)  # sky
    label[height // 4 : height // 2, : width // 2] = 11  # building
    label[height // 2 :, :] = 7  # road
    inst = label.astype(np.int32)
    for k in range(int(rng.integers(1, 4))):
        w, h = int(rng.integers(width // 8, width // 4)), int(rng.integers(height // 8, height // 4))
        x, y = int(rng.integers(0, width - w)), int(rng.integers(height // 2, height - h))
        label[y : y + h, x : x + w] = 26
        inst[y : y + h, x : x + w] = 26000 + k
    photo = PALETTE[label].astype(np.int16) + rng.integers(-20, 21, (height, width, 3))
    return label, inst, np.clip(photo, 0, 255).astype(np.uint8)


def write_synthetic_dataset(
    root: str | Path, n: int = 4, width: int = 64, height: int = 32, seed: int = 0, phase: str = "train"
) -> Path:
    root = Path(root)
    rng = np.random.default_rng(seed)
    for kind in ("label", "inst", "img"):
        (root / f"{phase}_{kind}").mkdir(parents=True, exist_ok=True)
    for i in range(n):
        label, inst, photo = synthetic_scene(rng, width, height)
        name = f"scene{i:03d}.png"
        write_maps(root / f"{phase}_label" / name, label, root / f"{phase}_inst" / name, inst)
        write_photo(root / f"{phase}_img" / name, photo)
    return root
