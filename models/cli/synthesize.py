"""``p2phd synthesize``: label maps (and instance maps) in, photos out, the model loaded once."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from p2phd.models.errors import InputMapError
from p2phd.models.mapfiles.atomic import resolve_target
from p2phd.models.vocabulary import BACKENDS, DEVICES, PRECISIONS, parse_size

__all__ = ["parse_size", "parse_style", "register", "run"]


def parse_style(text: str) -> tuple[int, int]:
    try:
        object_id, cluster = text.split("=")
        return int(object_id), int(cluster)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--style wants ID=K (two integers), not {text!r}") from None


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "synthesize",
        help="synthesize photos from label maps",
        description="Synthesize photos from Cityscapes label maps with a pix2pixHD model.",
    )
    p.add_argument(
        "--checkpoint",
        metavar="DIR",
        help="bundle, NVIDIA checkpoint or training run (runs/NAME) directory "
        "(default: $P2PHD_CHECKPOINT, then the demo model)",
    )
    p.add_argument(
        "--label", nargs="+", required=True, metavar="L", help="label maps: 8-bit id PNGs or palette colours"
    )
    p.add_argument("--instance", nargs="+", metavar="I", help="instance maps (16-bit), one per label map")
    p.add_argument("--out", required=True, metavar="PATH", help="output PNG for one input, a directory for several")
    p.add_argument("--device", default="auto", choices=DEVICES, help="default: auto")
    p.add_argument(
        "--precision",
        default="auto",
        choices=PRECISIONS,
        help="auto (default): fp16 on a GPU, bf16 on a CPU with bf16 instructions, else fp32",
    )
    p.add_argument(
        "--backend",
        default="auto",
        choices=BACKENDS,
        help="auto (default): on a CPU with OpenVINO installed (pip install 'p2phd[openvino]') OpenVINO behind "
        "exact one-hot lookups, converted once per model and size and cached (not for an explicit --precision "
        "fp32, which stays NVIDIA's convs); else torch, compiled for CPU bf16 frames of 1024x512 and more. "
        "openvino: that OpenVINO path, or an error saying how to install it",
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
        help="output size (default: the map's size, scaled down to the model's native width, sides rounded "
        "to the model's size multiple)",
    )
    p.set_defaults(func=run)


def output_paths(labels: list[str], out: str, inputs: list[str] | None = None) -> list[Path]:
    """The output file of each label map; none of them may be one of the ``inputs``."""
    out_path = Path(out)
    paths = _output_paths(labels, out_path)
    sources = {resolve_target(p): p for p in inputs or labels}
    for path in paths:
        source = sources.get(resolve_target(path))
        if source is None and path.exists():
            source = next((s for s in sources.values() if os.path.samefile(s, path)), None)  # hard links
        if source is not None:
            raise InputMapError(f"--out {path} would overwrite the input {source}; choose another output")
    return paths


def _output_paths(labels: list[str], out_path: Path) -> list[Path]:
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
    from p2phd.models.checkpoint.loader import find_checkpoint, load_bundle
    from p2phd.models.mapfiles.reading import read_instance, read_label
    from p2phd.models.mapfiles.writing import write_photo
    from tqdm import tqdm

    if args.instance and len(args.instance) != len(args.label):
        raise InputMapError(f"{len(args.instance)} instance maps for {len(args.label)} label maps")
    for path in [*args.label, *(args.instance or [])]:
        if not Path(path).is_file():
            raise InputMapError(f"input not found: {path}")
    from p2phd.models.engine.engine import Engine, fast_path_for, lookup_for, precision_for

    bundle = load_bundle(find_checkpoint(args.checkpoint))
    precision = precision_for(bundle, args.precision, args.device)
    # The fast engine (models/engine) does the inference; models.synthesis stays the fp32 reference.
    engine = Engine(
        bundle,
        precision,
        args.backend,
        lookup=lookup_for(args.precision, precision),
        fast_path=fast_path_for(args.precision, precision, args.backend),
    )
    engine.notify = lambda text: print(f"p2phd: {text}", file=sys.stderr, flush=True)
    outputs = output_paths(args.label, args.out, [*args.label, *(args.instance or [])])
    styles = dict(args.style)
    jobs = list(zip(args.label, args.instance or [None] * len(args.label), outputs))
    for label_path, inst_path, out_path in tqdm(jobs, desc="synthesize", unit="map", disable=len(jobs) < 2):
        label = read_label(label_path)
        inst = read_instance(inst_path) if inst_path else None
        photo = engine.synthesize(label, inst, styles=styles, size=args.size)
        write_photo(out_path, photo)
    return 0
