"""Frozen architecture config with NVIDIA's option names, stored as ``config.json`` in a bundle."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from p2phd.models.errors import CheckpointError
from p2phd.models.labels import LABEL_NC

SCHEMA_VERSION = 1


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
        if self.netG not in ("global", "local"):
            raise CheckpointError(f"netG must be 'global' or 'local', not {self.netG!r}")
        for name in ("label_nc", "output_nc", "ngf", "n_blocks_local", "nef", "feat_num"):
            if int(getattr(self, name)) <= 0:
                raise CheckpointError(f"{name} must be positive")

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
