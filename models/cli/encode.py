"""``p2phd encode``: instance features -> per-class k-means clusters and the object library,
written into the bundle of a training run (or into a bundle directly)."""

from __future__ import annotations

import argparse

from p2phd.models.vocabulary import MAX_SIDE, bounded_int


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "encode",
        help="cluster instance features and build the object library (NVIDIA's encode_features.py)",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--checkpoint", required=True, help="a training run directory (uses RUN/bundle) or a bundle")
    parser.add_argument("--dataroot", required=True, help="the training data (pix2pixHD or Cityscapes layout)")
    parser.add_argument("--phase", default="train")
    parser.add_argument("--n_clusters", type=bounded_int(1, 1000), default=10)
    parser.add_argument(
        "--per_class", type=bounded_int(0, 100_000), default=40, help="object library masks kept per thing class"
    )
    parser.add_argument(
        "--loadSize",
        type=bounded_int(1, MAX_SIDE),
        default=None,
        help="width the maps are scaled to (default: the run's --loadSize, else the bundle's native width)",
    )
    parser.add_argument("--max_dataset_size", type=bounded_int(1), default=None)
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda", "mps"))
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from p2phd.models.checkpoint.bundle import clusters_npz, load_bundle_dir
    from p2phd.models.checkpoint.locate import find_checkpoint, locate
    from p2phd.models.data import PairedMapsDataset, Preprocess
    from p2phd.models.errors import CheckpointError
    from p2phd.models.features.clustering import cluster_features, encode_dataset
    from p2phd.models.features.library import ObjectLibrary
    from p2phd.models.mapfiles.atomic import atomic_write_many

    where = locate(find_checkpoint(args.checkpoint))
    if where.kind != "bundle":
        raise CheckpointError(f"{where.path} is an NVIDIA checkpoint; convert it to a bundle first (p2phd convert)")
    bundle_dir, options = where.path, where.options
    bundle = load_bundle_dir(bundle_dir)
    if bundle.E is None:
        raise CheckpointError(f"{bundle_dir} has no encoder E (the model was trained without --instance_feat)")
    bundle.E.to(args.device)
    cfg = bundle.config
    load_size = args.loadSize or options.get("loadSize") or cfg.native_width or 1024
    mode = options.get("resize_or_crop", "scale_width")
    if "crop" in mode:  # encode whole frames, as NVIDIA's features are meant for full label maps
        mode = "scale_width" if "scale_width" in mode else "none"
    prep = Preprocess(
        mode, int(load_size), int(options.get("fineSize", load_size)), flip=False, size_multiple=cfg.size_multiple
    )
    dataset = PairedMapsDataset(args.dataroot, prep, args.phase, args.max_dataset_size, label_nc=cfg.label_nc)
    features, masks = encode_dataset(bundle.E, dataset, args.per_class, args.device)
    clusters = cluster_features(features, args.n_clusters)
    library = ObjectLibrary(masks.entries(clusters))
    # clusters and library as one set: if anything fails, the bundle keeps its previous pair and loads
    files = {"clusters.npz": clusters_npz(clusters), **library.files()}
    atomic_write_many({bundle_dir / name: data for name, data in files.items()})
    counts = ", ".join(f"{k}:{len(v)}" for k, v in sorted(clusters.items()))
    print(f"{len(features)} instances from {len(dataset)} images; clusters per class {{{counts}}}")
    print(f"object library: {len(library)} masks over classes {library.labels()}; written to {bundle_dir}")
    return 0
