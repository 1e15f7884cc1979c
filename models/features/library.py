"""The object library: real instance masks (binary, cropped) that the editor's insert tool places.

Stored in a bundle as ``library.npz`` (one bit-packed uint8 array per mask, ``mask_<i>``, never
pickled) and ``library.json`` (per mask: class, original bounding box and image size, area, the
encoded instance feature and its nearest cluster). Only masks derived from label/instance maps are
stored, never photo pixels.
"""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from p2phd.models.errors import CheckpointError
from p2phd.models.mapfiles.atomic import atomic_write_many

NPZ_NAME = "library.npz"
JSON_NAME = "library.json"
FORMAT_VERSION = 1


@dataclass
class LibraryEntry:
    label: int
    mask: np.ndarray  # bool, H x W, cropped to the object's bounding box
    bbox: tuple[int, int, int, int]  # x0, y0, x1, y1 (exclusive) in the source map
    image_size: tuple[int, int]  # width, height of the source map
    feature: np.ndarray  # feat_num float32
    cluster: int | None = None  # nearest cluster centre of its class, if clustered
    source: str = ""  # file stem of the source map
    instance_id: int = 0
    extra: dict = field(default_factory=dict)

    @property
    def area(self) -> int:
        return int(self.mask.sum())


class ObjectLibrary:
    def __init__(self, entries: list[LibraryEntry] | None = None):
        self.entries = list(entries or [])

    def __len__(self) -> int:
        return len(self.entries)

    def labels(self) -> list[int]:
        return sorted({e.label for e in self.entries})

    def save(self, bundle_dir: str | Path) -> None:
        """``library.npz`` and ``library.json`` into ``bundle_dir``, as one atomic set."""
        atomic_write_many({Path(bundle_dir) / name: data for name, data in self.files().items()})

    def files(self) -> dict[str, bytes]:
        """{file name: content} of the library's two files (for writing them with other files as one set)."""
        arrays, index = {}, []
        for i, e in enumerate(self.entries):
            mask = np.asarray(e.mask, dtype=bool)
            if mask.ndim != 2 or not mask.any():
                raise ValueError(f"library entry {i} needs a non-empty 2-D mask")
            arrays[f"mask_{i}"] = np.packbits(mask.reshape(-1))
            record = {k: v for k, v in asdict(e).items() if k not in ("mask", "feature")}
            record.update(
                shape=list(mask.shape),
                area=int(mask.sum()),
                bbox=[int(v) for v in e.bbox],
                image_size=[int(v) for v in e.image_size],
                feature=[float(v) for v in np.asarray(e.feature, np.float32).reshape(-1)],
            )
            index.append(record)
        npz = io.BytesIO()
        np.savez_compressed(npz, **arrays)
        meta = json.dumps({"version": FORMAT_VERSION, "entries": index}, indent=1) + "\n"
        return {NPZ_NAME: npz.getvalue(), JSON_NAME: meta.encode()}

    @classmethod
    def load(cls, bundle_dir: str | Path) -> ObjectLibrary:
        """The bundle's library; an empty one when the bundle has none."""
        bundle_dir = Path(bundle_dir)
        npz_path, json_path = bundle_dir / NPZ_NAME, bundle_dir / JSON_NAME
        if not json_path.is_file() and not npz_path.is_file():
            return cls()
        try:
            meta = json.loads(json_path.read_text())
            with np.load(npz_path, allow_pickle=False) as data:
                packed = {k: data[k] for k in data.files}
        except (OSError, ValueError, zipfile.BadZipFile) as exc:
            raise CheckpointError(f"cannot read the object library in {bundle_dir}: {exc}") from None
        if not isinstance(meta, dict) or meta.get("version", 0) > FORMAT_VERSION:
            raise CheckpointError(f"{json_path}: unsupported object library format")
        entries = []
        for i, rec in enumerate(meta.get("entries", [])):
            try:
                h, w = (int(v) for v in rec["shape"])
                bits = np.unpackbits(packed[f"mask_{i}"])[: h * w]
                if bits.size != h * w:
                    raise ValueError("mask bits are truncated")
                entries.append(
                    LibraryEntry(
                        label=int(rec["label"]),
                        mask=bits.reshape(h, w).astype(bool),
                        bbox=tuple(int(v) for v in rec["bbox"]),
                        image_size=tuple(int(v) for v in rec["image_size"]),
                        feature=np.asarray(rec["feature"], np.float32),
                        cluster=None if rec.get("cluster") is None else int(rec["cluster"]),
                        source=str(rec.get("source", "")),
                        instance_id=int(rec.get("instance_id", 0)),
                        extra=dict(rec.get("extra", {})),
                    )
                )
            except (KeyError, TypeError, ValueError) as exc:
                raise CheckpointError(f"{json_path}: entry {i} is malformed ({exc})") from None
        return cls(entries)
