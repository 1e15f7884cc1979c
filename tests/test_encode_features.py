"""p2phd encode: NVIDIA's per-instance features, per-class k-means, the object library, end to end."""

import numpy as np
import pytest
from p2phd.models.checkpoint.loader import load_bundle
from p2phd.models.cli.main import main
from p2phd.models.data.synthetic import write_synthetic_dataset
from p2phd.models.features.clustering import cluster_features, instance_features
from p2phd.models.features.library import ObjectLibrary
from PIL import Image


def test_instance_feature_is_the_middle_pixel_and_ratio_is_nvidias():
    inst = np.full((8, 16), 7, np.int64)
    inst[2:4, 3:7] = 26001  # 8 pixels
    feat = np.arange(3 * 8 * 16, dtype=np.float32).reshape(3, 8, 16)
    found = {f.instance_id: f for f in instance_features(feat, inst)}
    car = found[26001]
    ys, xs = np.nonzero(inst == 26001)  # row-major, as torch.nonzero
    y, x = ys[len(ys) // 2], xs[len(xs) // 2]
    assert car.label == 26 and np.array_equal(car.feature, feat[:, y, x])
    assert car.size_ratio == pytest.approx(8 / (8 * 16 // 32))
    assert found[7].label == 7


def test_kmeans_per_class_respects_the_small_instance_filter():
    from p2phd.models.features.clustering import InstanceFeature

    rng = np.random.default_rng(0)
    feats = [
        InstanceFeature(26000 + i, 26, rng.normal(size=3).astype(np.float32) + (5 if i % 2 else -5), 1.0)
        for i in range(12)
    ]
    feats += [
        InstanceFeature(24000, 24, np.ones(3, np.float32), 1.0),
        InstanceFeature(24001, 24, np.zeros(3, np.float32), 0.4),
    ]  # too small: ignored
    centres = cluster_features(feats, n_clusters=2)
    assert centres[26].shape == (2, 3) and centres[24].shape == (1, 3)
    assert sorted(np.round(centres[26][:, 0]).tolist()) != [0, 0]
    assert np.array_equal(centres[24][0], np.ones(3))
    again = cluster_features(feats, n_clusters=2)
    assert np.array_equal(again[26], centres[26])  # random_state=0: deterministic
    assert cluster_features(feats, n_clusters=10)[26].shape == (10, 3)  # k = min(n, n_clusters)


def test_classes_with_only_small_instances_still_get_styles():
    from p2phd.models.features.clustering import InstanceFeature

    people = [InstanceFeature(24000 + i, 24, np.full(3, float(i), np.float32), 0.1) for i in range(3)]
    specks = [InstanceFeature(25000, 25, np.ones(3, np.float32), 0.001)]  # below even the small-instance floor
    centres = cluster_features(people + specks, n_clusters=10)
    assert centres[24].shape == (3, 3)  # k = min(10, instances)
    assert 25 not in centres


def test_tiny_run_then_encode_then_synthesize(tmp_path):
    """End to end with NVIDIA-style flags: a tiny run, encode, and a bundle that renders."""
    data = write_synthetic_dataset(tmp_path / "data", n=3, width=64, height=32)
    flags = [
        "train",
        "--name",
        "tiny",
        "--checkpoints_dir",
        str(tmp_path / "runs"),
        "--dataroot",
        str(data),
        "--netG",
        "global",
        "--ngf",
        "8",
        "--n_downsample_global",
        "2",
        "--n_blocks_global",
        "1",
        "--instance_feat",
        "--niter",
        "1",
        "--niter_decay",
        "0",
        "--max_dataset_size",
        "2",
        "--loadSize",
        "64",
        "--fineSize",
        "64",
        "--no_vgg_loss",
        "--nThreads",
        "0",
        "--ndf",
        "8",
        "--nef",
        "4",
        "--n_downsample_E",
        "2",
    ]
    assert main(flags) == 0
    run = tmp_path / "runs" / "tiny"
    assert main(["encode", "--checkpoint", str(run), "--dataroot", str(data), "--n_clusters", "2"]) == 0
    bundle = load_bundle(run / "bundle")
    assert set(bundle.clusters) >= {7, 23, 26} and bundle.clusters[26].shape[1] == 3
    library = ObjectLibrary.load(run / "bundle")
    assert library.labels() == [26] and all(e.mask.any() and e.cluster is not None for e in library.entries)
    entry = library.entries[0]
    x0, y0, x1, y1 = entry.bbox
    assert entry.mask.shape == (y1 - y0, x1 - x0) and entry.image_size == (64, 32)
    out = tmp_path / "out.png"
    label, inst = data / "train_label" / "scene000.png", data / "train_inst" / "scene000.png"
    assert (
        main(
            [
                "synthesize",
                "--checkpoint",
                str(run / "bundle"),
                "--label",
                str(label),
                "--instance",
                str(inst),
                "--out",
                str(out),
            ]
        )
        == 0
    )
    rendered = np.asarray(Image.open(out))
    assert rendered.shape == (32, 64, 3) and rendered.std() > 0


def test_encode_errors_are_one_line(tmp_path, capsys):
    assert main(["encode", "--checkpoint", str(tmp_path / "nope"), "--dataroot", str(tmp_path)]) == 2
    assert "does not exist" in capsys.readouterr().err
