"""Paired maps in pix2pixHD's layout (``train_label/``, ``train_inst/``, ``train_img/``, optional
``train_feat/``) or in the official Cityscapes layout (``gtFine/<split>/<city>/...``,
``leftImg8bit/<split>/<city>/...``)."""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from p2phd.models.data.transforms import Preprocess, image_to_tensor_array, jitter_colors
from p2phd.models.errors import InputMapError
from p2phd.models.mapfiles.reading import read_instance, read_label, read_photo
from PIL import Image

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".ppm")


@dataclass(frozen=True)
class Triplet:
    label: Path
    inst: Path | None
    image: Path | None
    feat: Path | None = None


def frame_name(label: Path) -> str:
    """A frame's name from its label map's file name: the Cityscapes suffix dropped."""
    return label.stem.removesuffix("_gtFine_labelIds")


def _images_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file())


def _pix2pixhd_triplets(root: Path, phase: str, need_image: bool) -> list[Triplet]:
    labels = _images_in(root / f"{phase}_label")
    if not labels:
        raise InputMapError(f"{root / (phase + '_label')} holds no images")
    columns = {}
    for kind in ("inst", "img", "feat"):
        folder = root / f"{phase}_{kind}"
        if not folder.is_dir():
            if kind == "img" and need_image:
                raise InputMapError(f"{folder} is missing (training needs the real photos)")
            continue
        files = _images_in(folder)
        if len(files) != len(labels):
            raise InputMapError(f"{folder} has {len(files)} images but {phase}_label has {len(labels)}")
        columns[kind] = files
    return [
        Triplet(
            lab,
            columns.get("inst", [None] * len(labels))[i],
            columns.get("img", [None] * len(labels))[i],
            columns.get("feat", [None] * len(labels))[i],
        )
        for i, lab in enumerate(labels)
    ]


def _cityscapes_triplets(root: Path, phase: str, need_image: bool) -> list[Triplet]:
    gt = root / "gtFine" / phase
    labels = sorted(gt.glob("*/*_gtFine_labelIds.png"))
    if not labels:
        raise InputMapError(f"{gt} holds no */*_gtFine_labelIds.png files")
    out = []
    for lab in labels:
        prefix = lab.name[: -len("_gtFine_labelIds.png")]
        inst = lab.with_name(f"{prefix}_gtFine_instanceIds.png")
        img = root / "leftImg8bit" / phase / lab.parent.name / f"{prefix}_leftImg8bit.png"
        if not inst.is_file():
            raise InputMapError(f"missing instance map {inst}")
        if need_image and not img.is_file():
            raise InputMapError(f"missing photo {img}")
        out.append(Triplet(lab, inst, img if img.is_file() else None))
    return out


def find_triplets(dataroot: str | Path, phase: str = "train", need_image: bool = True) -> list[Triplet]:
    """All samples of ``phase`` under ``dataroot``, in sorted order, in either layout."""
    root = Path(dataroot)
    if not root.is_dir():
        raise InputMapError(f"dataroot {root} is not a directory")
    if (root / f"{phase}_label").is_dir():
        return _pix2pixhd_triplets(root, phase, need_image)
    if (root / "gtFine" / phase).is_dir():
        return _cityscapes_triplets(root, phase, need_image)
    raise InputMapError(f"{root} has neither {phase}_label/ (pix2pixHD layout) nor gtFine/{phase}/ (Cityscapes layout)")


_READERS = {"label": read_label, "inst": read_instance, "image": read_photo}


def _as_image(kind: str, array: np.ndarray) -> Image.Image:
    """Maps as PIL mode ``I`` (int32, which resizes nearest-neighbour safely), photos as RGB."""
    return Image.fromarray(array if kind == "image" else array.astype(np.int32))


class PairedMapsDataset(torch.utils.data.Dataset):
    """Items: ``label`` (1xHxW int64), ``inst`` (1xHxW int32; the label map when there is no
    instance map, as in NVIDIA's code), ``image`` (3xHxW float in [-1, 1]), ``index``, ``path``.

    Random crops and flips are drawn from ``(seed, epoch, index)``, so runs are reproducible and
    resumable whatever the number of DataLoader workers; call :meth:`set_epoch` every epoch.
    """

    def __init__(
        self,
        dataroot,
        preprocess: Preprocess,
        phase: str = "train",
        max_dataset_size: int | None = None,
        need_image: bool = True,
        label_nc: int | None = None,
        seed: int = 0,
        cache: bool = False,
    ):
        self.dataroot = dataroot
        self.triplets = find_triplets(dataroot, phase, need_image)[: max_dataset_size or None]
        self.preprocess = preprocess
        self.label_nc = label_nc
        self.seed = seed
        self.epoch = 0
        # Decoded full-size maps kept in memory: worth it for small sets read every epoch (demo).
        self.cache: dict[Path, Image.Image] | None = {} if cache else None

    def _read(self, path: Path, kind: str) -> Image.Image:
        """The file read by the one map reader (:mod:`p2phd.models.mapfiles`), as a PIL image."""
        if self.cache is None:
            return _as_image(kind, _READERS[kind](path))
        if path not in self.cache:
            self.cache[path] = _as_image(kind, _READERS[kind](path))
        return self.cache[path]

    def native_size(self) -> tuple[int, int]:
        """The model's native (width, height): the first frame after the resize step (see Preprocess)."""
        return self.preprocess.native_size(self._read(self.triplets[0].label, "label").size)

    def description(self) -> str:
        """What the model learns from, for its card: e.g. ``8 frames of cityscapes-samples (aachen_000000_000019
        .. aachen_000007_000019)``."""
        names = [frame_name(t.label) for t in self.triplets]
        if not names:
            return "no frames"
        span = names[0] if len(names) == 1 else f"{names[0]} .. {names[-1]}"
        root = Path(self.dataroot).resolve().name
        return f"{len(names)} frame{'s' if len(names) != 1 else ''} of {root} ({span})"

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.triplets)

    def __getitem__(self, index: int | tuple[int, int]) -> dict:
        """``index``, or ``(epoch, index)`` to draw the crop of that epoch whatever :meth:`set_epoch` said
        (the training sampler's items: DataLoader workers that outlive an epoch keep their decoded maps)."""
        epoch = self.epoch
        if isinstance(index, tuple):
            epoch, index = index
        t = self.triplets[index]
        label_img = self._read(t.label, "label")
        rng = random.Random(f"{self.seed}/{epoch}/{index}")
        params = self.preprocess.random_params(label_img.size, rng)
        label = np.array(self.preprocess(label_img, params, Image.Resampling.NEAREST), np.int64)
        if self.label_nc is not None and label.size and int(label.max()) >= self.label_nc:
            raise InputMapError(f"{t.label}: label id {int(label.max())} >= label_nc ({self.label_nc})")
        item = {"label": torch.from_numpy(label)[None], "index": index, "path": str(t.label)}
        if t.inst is not None:
            inst_img = self._read(t.inst, "inst")
            if inst_img.size != label_img.size:
                raise InputMapError(f"{t.inst} is {inst_img.size}, its label map {label_img.size}")
            inst = np.array(self.preprocess(inst_img, params, Image.Resampling.NEAREST), np.int32)
            item["inst"] = torch.from_numpy(inst)[None]
        else:
            item["inst"] = item["label"].to(torch.int32)
        if t.image is not None:
            photo = self._read(t.image, "image")
            if photo.size != label_img.size:
                raise InputMapError(f"{t.image} is {photo.size}, its label map {label_img.size}")
            item["image"] = torch.from_numpy(
                image_to_tensor_array(jitter_colors(self.preprocess(photo, params, Image.Resampling.BICUBIC), params))
            )
        return item
