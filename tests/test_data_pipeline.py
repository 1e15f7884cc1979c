import numpy as np
import pytest
from p2phd.models.data import PairedMapsDataset, Preprocess, find_triplets
from p2phd.models.data.synthetic import write_synthetic_dataset
from p2phd.models.errors import InputMapError
from PIL import Image


@pytest.fixture
def root(tmp_path):
    return write_synthetic_dataset(tmp_path / "data", n=3, width=64, height=32)


def test_items_have_nvidia_shapes_and_ranges(root):
    ds = PairedMapsDataset(root, Preprocess("scale_width", 32, 32, flip=False), label_nc=35)
    item = ds[0]
    assert item["label"].shape == (1, 16, 32) and item["label"].dtype.is_floating_point is False
    assert item["inst"].shape == (1, 16, 32)
    assert item["image"].shape == (3, 16, 32)
    assert -1.0 <= float(item["image"].min()) and float(item["image"].max()) <= 1.0
    # nearest-neighbour: only ids that exist in the source map
    source = np.asarray(Image.open(root / "train_label" / "scene000.png"))
    assert set(np.unique(item["label"].numpy())) <= set(np.unique(source))
    inst_source = np.asarray(Image.open(root / "train_inst" / "scene000.png")).astype(np.int64)
    assert set(np.unique(item["inst"].numpy())) <= set(np.unique(inst_source))


def test_flip_and_crop_are_shared_by_all_maps(root):
    ds = PairedMapsDataset(root, Preprocess("crop", 64, 16, flip=True), seed=3)
    plain = PairedMapsDataset(root, Preprocess("none", 64, 16, flip=False))
    for epoch in range(4):
        ds.set_epoch(epoch)
        item = ds[1]
        assert item["label"].shape == (1, 16, 16)
        # the photo's colour follows its label everywhere (same crop + flip)
        sky = item["label"][0] == 23
        assert float(item["image"][2][sky].mean()) > 0.1  # sky is blue
    assert plain[1]["label"].shape == (1, 32, 64)


def test_crops_are_reproducible_per_epoch(root):
    ds = PairedMapsDataset(root, Preprocess("scale_width_and_crop", 64, 16), seed=1)
    ds.set_epoch(5)
    a = ds[0]["image"]
    ds.set_epoch(5)
    assert (ds[0]["image"] == a).all()


def test_cityscapes_layout(tmp_path):
    for split_dir in ("gtFine/train/aachen", "leftImg8bit/train/aachen"):
        (tmp_path / split_dir).mkdir(parents=True)
    Image.fromarray(np.full((8, 16), 7, np.uint8)).save(tmp_path / "gtFine/train/aachen/a_1_gtFine_labelIds.png")
    Image.fromarray(np.full((8, 16), 7, np.uint16)).save(tmp_path / "gtFine/train/aachen/a_1_gtFine_instanceIds.png")
    Image.fromarray(np.zeros((8, 16, 3), np.uint8)).save(tmp_path / "leftImg8bit/train/aachen/a_1_leftImg8bit.png")
    (t,) = find_triplets(tmp_path)
    assert t.image.name == "a_1_leftImg8bit.png" and t.inst.name == "a_1_gtFine_instanceIds.png"
    (tmp_path / "leftImg8bit/train/aachen/a_1_leftImg8bit.png").unlink()
    with pytest.raises(InputMapError, match="missing photo"):
        find_triplets(tmp_path)


def test_clear_errors(root, tmp_path):
    with pytest.raises(InputMapError, match="neither"):
        find_triplets(tmp_path)
    (root / "train_img" / "scene002.png").unlink()
    with pytest.raises(InputMapError, match="has 2 images but train_label has 3"):
        find_triplets(root)
    with pytest.raises(ValueError, match="resize_or_crop"):
        Preprocess("zoom")


def test_label_ids_beyond_label_nc_are_rejected(root):
    ds = PairedMapsDataset(root, Preprocess("none", 64, 64, flip=False), label_nc=20)
    with pytest.raises(InputMapError, match="label_nc"):
        ds[0]


def test_scale_jitter_varies_the_scale_and_never_pads_with_void(root):
    """--scale_jitter: crops of one frame at many scales, always full crops of real pixels."""
    prep = Preprocess("scale_width_and_crop", 64, 16, flip=False, scale_jitter=(0.5, 2.0))
    ds = PairedMapsDataset(root, prep, seed=0)
    scales, labels = set(), set()
    for epoch in range(12):
        ds.set_epoch(epoch)
        params = prep.random_params((64, 32), __import__("random").Random(f"0/{epoch}/0"))
        scales.add(round(params["scale"], 3))
        item = ds[0]
        assert item["label"].shape == (1, 16, 16) and item["image"].shape == (3, 16, 16)
        assert 0 not in set(np.unique(item["label"].numpy()))  # no "unlabeled" padding from cropping off the frame
        labels.add(tuple(np.unique(item["label"].numpy())))
    assert len(scales) > 6 and min(scales) >= 16 / 32  # never below the crop (the frame is 64x32)
    assert len(labels) > 1


def test_color_jitter_changes_only_the_photo(root):
    plain = PairedMapsDataset(root, Preprocess("scale_width", 32, 32, flip=False), seed=0)
    jittered = PairedMapsDataset(root, Preprocess("scale_width", 32, 32, flip=False, color_jitter=0.3), seed=0)
    a, b = plain[0], jittered[0]
    assert (a["label"] == b["label"]).all() and (a["inst"] == b["inst"]).all()
    assert float((a["image"] - b["image"]).abs().mean()) > 0.01


def test_native_size_is_the_whole_frame_when_training_on_crops(root):
    ds = PairedMapsDataset(root, Preprocess("scale_width_and_crop", 32, 16, scale_jitter=(0.8, 1.2)))
    assert ds.native_size() == (32, 16)
    assert ds[0]["label"].shape[-2:] == (16, 16)


def test_jitter_options_are_validated():
    with pytest.raises(ValueError, match="scale_jitter"):
        Preprocess(scale_jitter=(2.0, 1.0))
    with pytest.raises(ValueError, match="color_jitter"):
        Preprocess(color_jitter=1.5)
