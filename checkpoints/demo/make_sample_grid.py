"""Sample grid for the model card, made from label/instance maps only.

    python checkpoints/demo/make_sample_grid.py BUNDLE_DIR DATAROOT OUT.png

The grid shows the editor's template scenes (our own synthetic maps), per row: label colours |
synthesized with default clusters | the largest car restyled with another cluster. Training frames are
deliberately not drawn: a model trained on 8 frames reproduces them nearly as photographs, and those
photos must not be copied into the repository. For them the script only prints how much restyling
the largest car changes the image inside vs outside the car.
"""

import sys
from pathlib import Path

import numpy as np
from p2phd.editor.template import new_from_template
from p2phd.models.checkpoint.loader import load_bundle
from p2phd.models.inputs.default_styles import default_cluster
from p2phd.models.labels import PALETTE
from p2phd.models.mapfiles.reading import read_instance, read_label
from p2phd.models.mapfiles.resize import resize_nearest
from p2phd.models.synthesis import synthesize
from PIL import Image

CAR = 26


def restyle_largest_car(bundle, label, inst):
    """(default image, image with the largest car in another cluster, that car's mask)."""
    cars = [i for i in np.unique(inst) if i // 1000 == CAR]
    car = max(cars, key=lambda i: (inst == i).sum())
    k = len(bundle.clusters.get(CAR, []))
    other = (default_cluster(int(car), k) + k // 2) % k
    base = synthesize(bundle, label, inst)
    restyled = synthesize(bundle, label, inst, styles={int(car): other})
    return base, restyled, inst == car


def change_inside_outside(base, restyled, mask):
    diff = np.abs(base.astype(np.int16) - restyled.astype(np.int16)).mean(axis=2)
    return diff[mask].mean(), diff[~mask].mean()


def main() -> None:
    bundle_dir, dataroot, out = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
    bundle = load_bundle(bundle_dir)
    w, h = bundle.config.native_width, bundle.config.native_height

    for lab_path, inst_path in zip(
        sorted((dataroot / "train_label").glob("*.png")), sorted((dataroot / "train_inst").glob("*.png"))
    ):
        label = resize_nearest(read_label(lab_path), (w, h))
        inst = resize_nearest(read_instance(inst_path), (w, h))
        inside, outside = change_inside_outside(*restyle_largest_car(bundle, label, inst))
        print(f"{lab_path.name}: restyled car, mean |diff| inside {inside:.1f}, outside {outside:.2f}")

    rows = []
    for seed in (0, 1, 2):
        doc = new_from_template(seed=seed)
        label, inst = resize_nearest(doc.label, (w, h)), resize_nearest(doc.instance, (w, h))
        base, restyled, mask = restyle_largest_car(bundle, label, inst)
        inside, outside = change_inside_outside(base, restyled, mask)
        print(f"template seed {seed}: restyled car, mean |diff| inside {inside:.1f}, outside {outside:.2f}")
        rows.append(np.concatenate([PALETTE[label], base, restyled], axis=1))
    grid = Image.fromarray(np.concatenate(rows, axis=0))
    grid = grid.resize((grid.width * 2 // 3, grid.height * 2 // 3), Image.Resampling.LANCZOS)
    grid.save(out, optimize=True)
    print(f"wrote {out} ({grid.width}x{grid.height})")


if __name__ == "__main__":
    main()
