"""``p2phd convert NVIDIA_DIR OUT_DIR``: an NVIDIA checkpoint directory -> our bundle format."""

from __future__ import annotations

from p2phd.models.config import BOUNDS
from p2phd.models.vocabulary import bounded_int


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "convert",
        help="convert an NVIDIA checkpoint directory to a bundle",
        description="Convert NVIDIA pix2pixHD checkpoints (latest_net_G.pth, optional "
        "latest_net_E.pth and features_clustered_*.npy) to a bundle: config.json, "
        "G/E safetensors, clusters.npz. No pickled code is ever run. OUT_DIR must be new or empty "
        "(or, with --force, an existing bundle): nothing else is ever overwritten or deleted.",
    )
    p.add_argument("nvidia_dir", metavar="NVIDIA_DIR")
    p.add_argument("out_dir", metavar="OUT_DIR")
    p.add_argument(
        "--label-nc",
        type=bounded_int(*BOUNDS["label_nc"]),
        default=None,
        help="number of label classes (default: 35, Cityscapes)",
    )
    p.add_argument("--force", action="store_true", help="replace OUT_DIR if it already holds a bundle")
    p.set_defaults(func=run)


def convert(nvidia_dir, out_dir, label_nc: int | None = None, force: bool = False):
    from pathlib import Path

    from p2phd.models.checkpoint.bundle import check_bundle_target, save_bundle
    from p2phd.models.checkpoint.nvidia import load_nvidia_dir
    from p2phd.models.errors import CheckpointError
    from p2phd.models.labels import LABEL_NC

    source, out = Path(nvidia_dir).resolve(), Path(out_dir).resolve()
    if out == source or out in source.parents:
        raise CheckpointError(f"OUT_DIR {out_dir} would hold or replace the source {nvidia_dir}; choose a new folder")
    check_bundle_target(Path(out_dir), force)  # before the (slow) load: refuse early
    bundle = load_nvidia_dir(nvidia_dir, label_nc=LABEL_NC if label_nc is None else label_nc, with_hashes=True)
    return save_bundle(out_dir, bundle.config, bundle.G, bundle.E, bundle.clusters, replace=force), bundle


def run(args) -> int:
    out, bundle = convert(args.nvidia_dir, args.out_dir, args.label_nc, args.force)
    cfg = bundle.config
    parts = [f"netG={cfg.netG}", f"ngf={cfg.ngf}", f"input_nc={cfg.netG_input_nc}"]
    if cfg.instance_feat:
        parts.append(f"feat_num={cfg.feat_num}, {len(bundle.clusters)} classes with clusters")
    print(f"wrote {out} ({', '.join(parts)})")
    return 0
