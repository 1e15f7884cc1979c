"""``p2phd synthesize``: label maps (and instance maps) in, photos out, the model loaded once."""

from __future__ import annotations

import argparse
from pathlib import Path

from p2phd.models.errors import InputMapError
from p2phd.models.synthesis import PRECISIONS


def parse_style(text: str) -> tuple[int, int]:
    try:
        object_id, cluster = text.split("=")
        return int(object_id), int(cluster)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--style wants ID=K (two integers), not {text!r}") from None


def parse_size(text: str) -> tuple[int, int]:
    try:
        w, h = text.lower().split("x")
        return int(w), int(h)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--size wants WxH, e.g. 1024x512, not {text!r}") from None


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "synthesize",
        help="synthesize photos from label maps",
        description="Synthesize photos from Cityscapes label maps with a pix2pixHD model.",
    )
    p.add_argument(
        "--checkpoint",
        metavar="DIR",
        help="bundle or NVIDIA checkpoint directory (default: $P2PHD_CHECKPOINT, then checkpoints/demo)",
    )
    p.add_argument(
        "--label", nargs="+", required=True, metavar="L", help="label maps: 8-bit id PNGs or palette colours"
    )
    p.add_argument("--instance", nargs="+", metavar="I", help="instance maps (16-bit), one per label map")
    p.add_argument("--out", required=True, metavar="PATH", help="output PNG for one input, a directory for several")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"], help="default: auto")
    p.add_argument(
        "--precision",
        default="auto",
        choices=["auto", *PRECISIONS],
        help="auto (default): fp16 on a GPU, bf16 on a CPU with bf16 instructions, else fp32",
    )
    p.add_argument(
        "--style",
        action="append",
        type=parse_style,
        default=[],
        metavar="ID=K",
        help="cluster K for instance id or stuff class ID (repeatable)",
    )
    p.add_argument(
        "--size",
        type=parse_size,
        metavar="WxH",
        help="output size (default: the bundle's native size, else the map's size rounded as NVIDIA does)",
    )
    p.set_defaults(func=run)


def output_paths(labels: list[str], out: str) -> list[Path]:
    out_path = Path(out)
    if len(labels) == 1 and not out_path.is_dir():
        if not out_path.parent.is_dir():
            raise InputMapError(f"output directory does not exist: {out_path.parent}")
        return [out_path]
    if out_path.exists() and not out_path.is_dir():
        raise InputMapError(f"--out must be a directory when several label maps are given: {out_path}")
    names = [Path(label).stem + "_synth.png" for label in labels]
    if len(set(names)) != len(names):
        raise InputMapError("several label maps share a file name; synthesize them into separate directories")
    out_path.mkdir(parents=True, exist_ok=True)
    return [out_path / name for name in names]


def run(args) -> int:
    from p2phd.models.checkpoint.bundle import find_checkpoint, load_bundle
    from p2phd.models.maps_io import read_instance, read_label, write_png_atomic
    from tqdm import tqdm

    if args.instance and len(args.instance) != len(args.label):
        raise InputMapError(f"{len(args.instance)} instance maps for {len(args.label)} label maps")
    for path in [*args.label, *(args.instance or [])]:
        if not Path(path).is_file():
            raise InputMapError(f"input not found: {path}")
    from p2phd.models.engine.engine import Engine, lookup_for, precision_for

    bundle = load_bundle(find_checkpoint(args.checkpoint))
    precision = precision_for(bundle, args.precision, args.device)
    # The fast engine (models/engine) does the inference; models.synthesis stays the fp32 reference.
    engine = Engine(bundle, precision, lookup=lookup_for(args.precision, precision))
    outputs = output_paths(args.label, args.out)
    styles = dict(args.style)
    jobs = list(zip(args.label, args.instance or [None] * len(args.label), outputs))
    for label_path, inst_path, out_path in tqdm(jobs, desc="synthesize", unit="map", disable=len(jobs) < 2):
        label = read_label(label_path)
        inst = read_instance(inst_path) if inst_path else None
        photo = engine.synthesize(label, inst, styles=styles, size=args.size)
        write_png_atomic(out_path, photo)
    return 0
