"""Sample grid for the model card: label colours | synthesized (default clusters) | the largest car
restyled with another cluster. Made from label/instance maps only; no photo pixels are copied.

    python checkpoints/demo/make_sample_grid.py BUNDLE_DIR DATAROOT OUT.png
Prints, per frame, how much the restyled car changes inside vs outside its mask.
"""

import sys
from pathlib import Path

import numpy as np
from PIL import Image

from models.bundle import load_bundle
from models.labels import PALETTE
from models.maps_io import read_instance, read_label, resize_nearest
from models.styles import default_cluster
from models.synthesis import synthesize

bundle_dir, dataroot, out = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
bundle = load_bundle(bundle_dir)
w, h = bundle.config.native_width, bundle.config.native_height
labels = sorted((dataroot / "train_label").glob("*.png"))[:3]
insts = sorted((dataroot / "train_inst").glob("*.png"))[:3]
rows = []
for lab_path, inst_path in zip(labels, insts):
    label, inst = read_label(lab_path), read_instance(inst_path)
    small_inst = resize_nearest(inst, (w, h))
    cars = [i for i in np.unique(small_inst) if i // 1000 == 26]
    car = max(cars, key=lambda i: (small_inst == i).sum())
    k = len(bundle.clusters.get(26, []))
    base = synthesize(bundle, label, inst)
    other = (default_cluster(int(car), k) + k // 2) % k
    restyled = synthesize(bundle, label, inst, styles={int(car): other})
    mask = small_inst == car
    diff = np.abs(base.astype(np.int16) - restyled.astype(np.int16)).mean(axis=2)
    print(
        f"{lab_path.name}: car {car} cluster {default_cluster(int(car), k)} -> {other}: "
        f"mean |diff| inside {diff[mask].mean():.1f}, outside {diff[~mask].mean():.2f}"
    )
    colours = PALETTE[resize_nearest(label, (w, h))]
    rows.append(np.concatenate([colours, base, restyled], axis=1))
grid = Image.fromarray(np.concatenate(rows, axis=0))
grid = grid.resize((grid.width * 2 // 3, grid.height * 2 // 3), Image.Resampling.LANCZOS)
grid.save(out, optimize=True)
print(f"wrote {out} ({grid.width}x{grid.height})")
