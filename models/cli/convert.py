"""``p2phd convert NVIDIA_DIR OUT_DIR``: an NVIDIA checkpoint directory -> our bundle format."""

from __future__ import annotations


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "convert",
        help="convert an NVIDIA checkpoint directory to a bundle",
        description="Convert NVIDIA pix2pixHD checkpoints (latest_net_G.pth, optional "
        "latest_net_E.pth and features_clustered_*.npy) to a bundle: config.json, "
        "G/E safetensors, clusters.npz. No pickled code is ever run.",
    )
    p.add_argument("nvidia_dir", metavar="NVIDIA_DIR")
    p.add_argument("out_dir", metavar="OUT_DIR")
    p.add_argument("--label-nc", type=int, default=None, help="number of label classes (default: 35, Cityscapes)")
    p.set_defaults(func=run)


def convert(nvidia_dir, out_dir, label_nc: int | None = None):
    from pathlib import Path

    from p2phd.models.checkpoint.bundle import save_bundle
    from p2phd.models.checkpoint.nvidia import load_nvidia_dir
    from p2phd.models.errors import CheckpointError
    from p2phd.models.labels import LABEL_NC

    if Path(out_dir).resolve() == Path(nvidia_dir).resolve():
        raise CheckpointError("OUT_DIR must differ from NVIDIA_DIR")
    bundle = load_nvidia_dir(nvidia_dir, label_nc=label_nc or LABEL_NC, with_hashes=True)
    return save_bundle(out_dir, bundle.config, bundle.G, bundle.E, bundle.clusters), bundle


def run(args) -> int:
    out, bundle = convert(args.nvidia_dir, args.out_dir, args.label_nc)
    cfg = bundle.config
    parts = [f"netG={cfg.netG}", f"ngf={cfg.ngf}", f"input_nc={cfg.netG_input_nc}"]
    if cfg.instance_feat:
        parts.append(f"feat_num={cfg.feat_num}, {len(bundle.clusters)} classes with clusters")
    print(f"wrote {out} ({', '.join(parts)})")
    return 0
