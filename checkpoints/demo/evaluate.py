"""The demo model's acceptance figures (issue 10), from label maps only:

    python checkpoints/demo/evaluate.py BUNDLE_DIR [--data DATAROOT] [--held-out STEM]

- styles: per template scene, the largest car rendered in every cluster of its class; the mean
  pairwise difference inside the car (grey levels, 0-255) says whether the gallery's thumbnails differ.
- locality: the same car switched to another cluster; the mean change outside the car dilated by
  16 px over the mean change inside it (should be <= 1/6), on template scenes and real maps.
- person: a person from the bundle's object library inserted into each template scene; the mean
  change inside its mask says whether it is visible in the photo.
- lattice: the periodic grid of the transposed convolutions, as the spectral peaks of the synthesized
  template scene at the periods 4, 8 and 16 px over their neighbourhood (log10 of the ratio, mean over
  the peaks; about 0 for a photo, larger where a grid shows), on the whole image and inside the cars.
- held-out (with --data and --held-out): the frame STEM that the model was *not* trained on
  (leave-one-frame-out recipe) rendered from its labels and compared with its photo: PSNR and the
  per-class mean colour error (the distance between the mean RGB of a class in the synthesized image
  and in the photo). Nothing of the photo is written anywhere.
"""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path

import cv2
import numpy as np
from p2phd.editor.template import new_from_template
from p2phd.models.checkpoint.loader import load_bundle
from p2phd.models.features.library import ObjectLibrary
from p2phd.models.inputs.default_styles import default_cluster
from p2phd.models.labels import BY_ID, BY_NAME
from p2phd.models.mapfiles.reading import read_instance, read_label
from p2phd.models.mapfiles.resize import resize_nearest
from p2phd.models.synthesis import synthesize
from PIL import Image

CAR, PERSON = BY_NAME["car"].id, BY_NAME["person"].id


def grey(img: np.ndarray) -> np.ndarray:
    return img.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)


def largest(inst: np.ndarray, label: int) -> int | None:
    ids = [int(i) for i in np.unique(inst) if i // 1000 == label]
    return max(ids, key=lambda i: int((inst == i).sum()), default=None)


def style_spread(bundle, label, inst) -> float:
    car = largest(inst, CAR)
    k = len(bundle.clusters.get(CAR, []))
    mask = inst == car
    views = [grey(synthesize(bundle, label, inst, styles={car: c}))[mask] for c in range(k)]
    return float(np.mean([np.abs(a - b).mean() for a, b in itertools.combinations(views, 2)]))


def lattice(image: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Mean log10(peak / neighbourhood median) of the spectrum at the periods 4, 8, 16 px along x, y and
    both (see the module docstring); ``mask``: only those pixels (the rest set to their mean)."""
    g = grey(image)
    if mask is not None:
        g = np.where(mask, g, g[mask].mean())
    h, w = g.shape
    g = (g - g.mean()) * np.outer(np.hanning(h), np.hanning(w))
    spectrum = np.abs(np.fft.fft2(g))
    ratios = []
    for period in (4, 8, 16):
        fy, fx = h // period, w // period
        for y, x in ((fy, 0), (0, fx), (fy, fx)):
            peak = spectrum[max(y - 1, 0) : y + 2, max(x - 1, 0) : x + 2].max()
            ring = spectrum[max(y - 6, 0) : y + 7, max(x - 6, 0) : x + 7]
            ratios.append(np.log10(peak / np.median(ring)))
    return float(np.mean(ratios))


def locality(bundle, label, inst) -> tuple[float, float]:
    car = largest(inst, CAR)
    k = len(bundle.clusters.get(CAR, []))
    other = (default_cluster(car, k) + max(1, k // 2)) % k
    base = synthesize(bundle, label, inst)
    restyled = synthesize(bundle, label, inst, styles={car: other})
    diff = np.abs(base.astype(np.int16) - restyled.astype(np.int16)).mean(axis=2)
    mask = (inst == car).astype(np.uint8)
    near = cv2.dilate(mask, np.ones((33, 33), np.uint8)).astype(bool)
    return float(diff[mask.astype(bool)].mean()), float(diff[~near].mean())


def person_visibility(bundle, doc, library: ObjectLibrary) -> float:
    people = sorted((e for e in library.entries if e.label == PERSON), key=lambda e: -e.area)
    if not people:
        return float("nan")
    entry = people[0]
    scale = doc.width / entry.image_size[0]
    before = synthesize(bundle, doc.label, doc.instance, size=(bundle.config.native_width, bundle.config.native_height))
    pid = doc.insert_object(entry.mask, PERSON, doc.width * 2 // 5, doc.height * 3 // 4, scale=scale)
    after = synthesize(bundle, doc.label, doc.instance, size=(bundle.config.native_width, bundle.config.native_height))
    mask = resize_nearest((doc.instance == pid).astype(np.uint8), (before.shape[1], before.shape[0])).astype(bool)
    doc.undo()
    return float(np.abs(grey(before) - grey(after))[mask].mean())


def held_out(bundle, data: Path, stem: str) -> None:
    w, h = bundle.config.native_width, bundle.config.native_height
    label = resize_nearest(read_label(next((data / "train_label").glob(f"{stem}*"))), (w, h))
    inst = resize_nearest(read_instance(next((data / "train_inst").glob(f"{stem}*"))), (w, h))
    photo = np.asarray(
        Image.open(next((data / "train_img").glob(f"{stem}*"))).convert("RGB").resize((w, h), Image.Resampling.BICUBIC)
    )
    fake = synthesize(bundle, label, inst).astype(np.float64)
    mse = ((fake - photo) ** 2).mean()
    print(f"held-out {stem}: PSNR {10 * np.log10(255**2 / mse):.2f} dB")
    errors = {}
    for cid in np.unique(label):
        mask = label == cid
        if mask.sum() < 0.002 * label.size or BY_ID[int(cid)].category == "void":
            continue
        errors[BY_ID[int(cid)].name] = float(np.linalg.norm(fake[mask].mean(0) - photo[mask].mean(0)))
    for name, err in sorted(errors.items(), key=lambda kv: kv[1]):
        print(f"  {name:14s} mean colour error {err:6.1f}")
    print(f"  mean over {len(errors)} classes: {np.mean(list(errors.values())):.1f}")


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("bundle", type=Path)
    p.add_argument("--data", type=Path, help="pix2pixHD layout: train_label/ train_inst/ train_img/")
    p.add_argument("--held-out", help="file-name stem of the frame left out of training")
    args = p.parse_args()
    bundle = load_bundle(args.bundle)
    w, h = bundle.config.native_width, bundle.config.native_height
    library = ObjectLibrary.load(args.bundle)
    print(f"{args.bundle}: native {w}x{h}; clusters per class " + str({k: len(v) for k, v in bundle.clusters.items()}))
    for seed in (0, 1, 2):
        doc = new_from_template(seed=seed)
        label, inst = resize_nearest(doc.label, (w, h)), resize_nearest(doc.instance, (w, h))
        image = synthesize(bundle, label, inst)
        cars = (inst // 1000 == CAR) & (cv2.erode((inst // 1000 == CAR).astype(np.uint8), np.ones((9, 9))) > 0)
        print(f"template {seed}: lattice {lattice(image):.2f} (whole image), {lattice(image, cars):.2f} (cars)")
        inside, outside = locality(bundle, label, inst)
        print(
            f"template {seed}: car styles differ by {style_spread(bundle, label, inst):.1f} grey levels;"
            f" restyle inside {inside:.1f} / outside(+16px) {outside:.2f} = {outside / inside:.3f};"
            f" inserted person changes its pixels by {person_visibility(bundle, doc, library):.1f}"
        )
    if args.data:
        for lab_path, inst_path in zip(
            sorted((args.data / "train_label").glob("*.png")), sorted((args.data / "train_inst").glob("*.png"))
        ):
            label = resize_nearest(read_label(lab_path), (w, h))
            inst = resize_nearest(read_instance(inst_path), (w, h))
            if largest(inst, CAR) is None:
                continue
            inside, outside = locality(bundle, label, inst)
            print(
                f"{lab_path.name}: restyle inside {inside:.1f} / outside(+16px) {outside:.2f} = {outside / inside:.3f}"
            )
        if args.held_out:
            held_out(bundle, args.data, args.held_out)


if __name__ == "__main__":
    main()
