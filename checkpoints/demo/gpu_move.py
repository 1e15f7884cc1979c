"""Move the demo's training to a lent GPU machine and back (issue 10: "if a GPU machine is available to
you, train there instead").

Only the working tree travels there (64 MiB in all), so ``pack`` writes into ``.gpu/`` (ignored by git,
never committed):

- the frames at the size training reads them (1024x512): the data pipeline's first step scales each frame
  to --loadSize 1024, so frames stored at that size give the very same crops (checked sample by sample
  here before anything is sent);
- each run's newest checkpoint slimmed to its networks and schedule position (no Adam moments: twice G's
  size; the trainer rebuilds them at lr 0, --warmup_moments).

``unpack PARTS_DIR`` puts the returned runs (``train_on_gpu.sh`` packs them as ``runs.tar.part-*``) back
under ``runs/``: each slimmed checkpoint becomes the run's ``latest``, and its bundle is rebuilt from it.

    python checkpoints/demo/gpu_move.py pack [--data ../shared/data/cityscapes-samples] [--run demo_v2]
    python checkpoints/demo/gpu_move.py slim RUN OUT_DIR      # on the device, before packing
    python checkpoints/demo/gpu_move.py unpack /work/.device/<files_at>
"""

from __future__ import annotations

import argparse
import random
import tarfile
import tempfile
from pathlib import Path

import numpy as np
import torch
from p2phd.models.data.datasets import PairedMapsDataset, _as_image, find_triplets
from p2phd.models.data.transforms import Preprocess, scale_width
from p2phd.models.mapfiles.reading import read_instance, read_label, read_photo
from p2phd.models.train.checkpoints import (
    load_training_state,
    resolve_checkpoint,
    save_training_state,
    slim_training_state,
)
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
LOAD_SIZE = 1024  # train_v2.sh's --loadSize
METHODS = {"label": Image.Resampling.NEAREST, "inst": Image.Resampling.NEAREST, "image": Image.Resampling.BICUBIC}


def pack_frames(data: Path, out: Path) -> None:
    readers = {"label": read_label, "inst": read_instance, "image": read_photo}
    for t in find_triplets(data):
        for kind, src in (("label", t.label), ("inst", t.inst), ("image", t.image)):
            img = scale_width(_as_image(kind, readers[kind](src)), LOAD_SIZE, METHODS[kind])
            arr = np.asarray(img)
            arr = arr.astype(np.uint8 if kind == "label" else np.uint16) if kind != "image" else arr
            dst = out / src.parent.name / src.name
            dst.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(arr).save(dst)


def check_same_samples(data: Path, packed: Path) -> int:
    """Every frame's crops of a few epochs, from the originals and from the packed frames: identical."""
    pre = Preprocess(
        resize_or_crop="scale_width_and_crop",
        loadSize=LOAD_SIZE,
        fineSize=320,
        scale_jitter=(0.6, 1.5),
        color_jitter=0.05,
    )
    a, b = (PairedMapsDataset(d, pre, label_nc=35, seed=1) for d in (data, packed))
    checked = 0
    for epoch in random.Random(0).sample(range(1, 4000), 3):
        a.set_epoch(epoch)
        b.set_epoch(epoch)
        for i in range(len(a)):
            x, y = a[i], b[i]
            for key in ("label", "inst", "image"):
                if not torch.equal(x[key], y[key]):
                    raise SystemExit(f"packed frame {i} differs from the original in {key} (epoch {epoch})")
            checked += 1
    return checked


def write_slim(run: str, out: Path) -> None:
    """``runs/RUN``'s newest checkpoint, slimmed, as ``out/RUN.slim.pt``."""
    slim = slim_training_state(load_training_state(resolve_checkpoint(ROOT / "runs" / run)))
    out.mkdir(parents=True, exist_ok=True)
    torch.save(slim, out / f"{run}.slim.pt")
    print(f"{run}: {slim['total_steps']} iterations, epoch {slim['epoch']} -> {out / f'{run}.slim.pt'}")


def pack(args) -> None:
    out = ROOT / ".gpu"
    frames = out / "data" / args.data.name
    pack_frames(args.data, frames)
    print(f"{check_same_samples(args.data, frames)} samples identical from {frames}")
    for run in args.run:
        write_slim(run, out)
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    print(f".gpu/ holds {size / 2**20:.1f} MiB")


def unpack(args) -> None:
    from p2phd.models.checkpoint.bundle import save_bundle
    from p2phd.models.config import ModelConfig

    parts = sorted(Path(args.parts).glob("runs.tar.part-*"))
    if not parts:
        raise SystemExit(f"no runs.tar.part-* in {args.parts}")
    with tempfile.TemporaryDirectory() as tmp:
        tar_path = Path(tmp) / "runs.tar"
        with open(tar_path, "wb") as fh:
            for p in parts:
                fh.write(p.read_bytes())
        with tarfile.open(tar_path) as tar:
            tar.extractall(tmp, filter="data")
        for slim_path in sorted(Path(tmp).glob("*/*.slim.pt")):
            run = slim_path.parent.name
            state = load_training_state(slim_path)
            label = f"gpu{state['total_steps']}"
            run_dir = ROOT / "runs" / run
            save_training_state(run_dir, label, state)
            returned = slim_path.parent / "config.json"  # absent when the run saved nothing there
            config = ModelConfig.load(returned if returned.is_file() else run_dir / "bundle" / "config.json")
            provenance = {**config.provenance, "epoch": state["epoch"], "total_steps": state["total_steps"]}
            config = config.replace(provenance=provenance)
            G, E = config.build_G(), config.build_E() if state.get("E") else None
            G.load_state_dict(state["G"], strict=True)
            if E is not None:
                E.load_state_dict(state["E"], strict=True)
            save_bundle(run_dir / "bundle", config, G, E, replace=True)
            log = slim_path.parent / "loss_log.jsonl"
            if log.is_file():
                (run_dir / "loss_log.gpu.jsonl").write_bytes(log.read_bytes())
            print(f"{run}: {state['total_steps']} iterations -> {run_dir}/train/{label}.pt (latest), bundle rebuilt")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("pack")
    a.add_argument("--data", type=Path, default=ROOT.parent / "shared/data/cityscapes-samples")
    a.add_argument("--run", nargs="*", default=["demo_v2"], help="runs under runs/ to continue there")
    a.set_defaults(func=pack)
    c = sub.add_parser("slim", help="only slim RUN's newest checkpoint into OUT (train_on_gpu.sh packs with it)")
    c.add_argument("run")
    c.add_argument("out", type=Path)
    c.set_defaults(func=lambda args: write_slim(args.run, args.out))
    b = sub.add_parser("unpack")
    b.add_argument("parts")
    b.set_defaults(func=unpack)
    args = p.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
