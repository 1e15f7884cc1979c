"""Frozen architecture config with NVIDIA's option names, stored as ``config.json`` in a bundle."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from p2phd.models.errors import CheckpointError
from p2phd.models.labels import LABEL_NC
from p2phd.models.vocabulary import MAX_SIDE

SCHEMA_VERSION = 1

#: Sane bounds of every integer field (inclusive). NVIDIA's largest released model uses ngf 64,
#: n_downsample_global 4, 9 blocks; the bounds leave room for experiments while keeping a
#: hostile config.json from asking for terabytes (a label map is uint8: at most 256 classes).
BOUNDS: dict[str, tuple[int, int]] = {
    "label_nc": (1, 256),
    "output_nc": (1, 4),
    "feat_num": (1, 64),
    "ngf": (1, 512),
    "n_downsample_global": (1, 8),
    "n_blocks_global": (0, 64),
    "n_local_enhancers": (1, 4),
    "n_blocks_local": (0, 64),
    "nef": (1, 512),
    "n_downsample_E": (1, 8),
    "native_width": (1, MAX_SIDE),
    "native_height": (1, MAX_SIDE),
}
#: The widest layer has ngf * 2**n_downsample_global channels (NVIDIA's 1024p G1: 64 * 16 = 1024).
MAX_CHANNELS = 4096


@dataclass(frozen=True)
class ModelConfig:
    # inputs
    label_nc: int = LABEL_NC
    output_nc: int = 3
    no_instance: bool = False
    instance_feat: bool = False
    feat_num: int = 3
    # generator
    netG: str = "global"
    ngf: int = 64
    n_downsample_global: int = 4
    n_blocks_global: int = 9
    n_local_enhancers: int = 1
    n_blocks_local: int = 3
    # encoder E
    nef: int = 16
    n_downsample_E: int = 4
    # what the model was trained on
    labels: str = "cityscapes"
    native_width: int | None = None
    native_height: int | None = None
    provenance: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    def __post_init__(self):
        """Types and sane bounds of every field: a config from a file or the command line is
        refused with one message naming the field, never corrected or allowed to allocate wildly."""
        for name, (low, high) in BOUNDS.items():
            value = getattr(self, name)
            if value is None and name in ("native_width", "native_height"):
                continue
            if not isinstance(value, int) or isinstance(value, bool):
                raise CheckpointError(f"config {name} must be an integer, not {value!r}")
            if not low <= value <= high:
                raise CheckpointError(f"config {name}={value} is out of range ({low}..{high})")
        for name in ("no_instance", "instance_feat"):
            if not isinstance(getattr(self, name), bool):
                raise CheckpointError(f"config {name} must be true or false, not {getattr(self, name)!r}")
        if self.netG not in ("global", "local"):
            raise CheckpointError(f"netG must be 'global' or 'local', not {self.netG!r}")
        if not isinstance(self.labels, str):
            raise CheckpointError(f"config labels must be a string, not {self.labels!r}")
        if not isinstance(self.provenance, dict):
            raise CheckpointError("config provenance must be a JSON object")
        depth = self.n_downsample_global + (self.n_local_enhancers if self.netG == "local" else 0)
        for net, width in (("G", self.ngf * 2**depth), ("E", self.nef * 2**self.n_downsample_E)):
            if width > MAX_CHANNELS:
                raise CheckpointError(f"config asks for {width} channels in {net} (at most {MAX_CHANNELS})")

    @property
    def use_features(self) -> bool:
        return self.instance_feat

    @property
    def netG_input_nc(self) -> int:
        return self.label_nc + (0 if self.no_instance else 1) + (self.feat_num if self.instance_feat else 0)

    @property
    def size_multiple(self) -> int:
        """Width and height must be multiples of this (NVIDIA's ``__make_power_2`` base)."""
        base = 2**self.n_downsample_global
        if self.netG == "local":
            base *= 2**self.n_local_enhancers
        return base

    def build_G(self):
        from p2phd.models.networks.generator import GlobalGenerator, LocalEnhancer

        if self.netG == "global":
            return GlobalGenerator(
                self.netG_input_nc, self.output_nc, self.ngf, self.n_downsample_global, self.n_blocks_global
            )
        return LocalEnhancer(
            self.netG_input_nc,
            self.output_nc,
            self.ngf,
            self.n_downsample_global,
            self.n_blocks_global,
            self.n_local_enhancers,
            self.n_blocks_local,
        )

    def build_E(self):
        from p2phd.models.networks.instance_encoder import Encoder

        return Encoder(self.output_nc, self.feat_num, self.nef, self.n_downsample_E)

    def replace(self, **changes) -> ModelConfig:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return {"schema_version": SCHEMA_VERSION, **dataclasses.asdict(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        data = dict(data)
        version = data.pop("schema_version", SCHEMA_VERSION)
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise CheckpointError(f"config schema_version must be a positive integer, not {version!r}")
        if version > SCHEMA_VERSION:
            raise CheckpointError(f"config schema {version} is newer than this program understands ({SCHEMA_VERSION})")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise CheckpointError(f"unknown config keys: {', '.join(unknown)}")
        try:
            return cls(**data)
        except TypeError as exc:
            raise CheckpointError(f"bad config: {exc}") from None

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> ModelConfig:
        try:
            data = json.loads(Path(path).read_text())
        except (OSError, ValueError) as exc:
            raise CheckpointError(f"cannot read {path}: {exc}") from None
        if not isinstance(data, dict):
            raise CheckpointError(f"{path} does not hold a JSON object")
        return cls.from_dict(data)


#: NVIDIA's released Cityscapes architectures (random weights for ``p2phd bench --arch``).
ARCHS: dict[str, ModelConfig] = {
    "label2city_1024p": ModelConfig(netG="local", ngf=32, native_width=2048, native_height=1024),
    "label2city_512p": ModelConfig(netG="global", ngf=64, native_width=1024, native_height=512),
}
