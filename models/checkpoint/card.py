"""A model's card: what the editor tells the user about the model it renders with.

Facts come from the bundle's ``config.json`` (architecture, native size, ``provenance``: name, run,
``trained_on`` when recorded) and, for what a model was trained on, from the first line of the
bundle's ``README.md`` ("... trained on 8 Cityscapes frames"). Nothing is guessed: an unknown fact
is reported as not recorded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from p2phd.models.config import ModelConfig

try:  # installed with the package (wheel) or the source tree (editable); imported here, not in the
    # editor's UI thread when a model is installed (each import there also runs PySide's import hook)
    from p2phd.checkpoints import DEMO
except ImportError:
    DEMO = None

NOT_RECORDED = "not recorded"
TRAINED_ON = re.compile(r"\btrained on (?P<what>[^.;\n]+)", re.IGNORECASE)


@dataclass(frozen=True)
class ModelCard:
    name: str
    native_size: str  # "512 x 256", or how any size is accepted
    trained_on: str
    instance_features: bool
    feature_classes: int  # classes with k-means style clusters
    source: str  # "bundle" or "nvidia"
    is_demo: bool
    path: Path | None = None
    run: str = ""  # "epoch 261, 2080 steps" for our own training runs

    @property
    def summary(self) -> str:
        """One line for the status bar."""
        styles = "instance styles" if self.instance_features else "no instance styles"
        return f"{self.name} · {self.native_size} · trained on {self.trained_on.split(' (')[0]} · {styles}"

    def lines(self) -> list[str]:
        """The card as short lines (Model menu, tooltip)."""
        if self.instance_features:
            feats = f"yes: style clusters for {self.feature_classes} classes" if self.feature_classes else "yes"
        else:
            feats = "no (style swaps need a model trained with --instance_feat)"
        out = [
            f"Model: {self.name}" + (" (the demo model)" if self.is_demo else ""),
            f"Native size: {self.native_size}",
            f"Trained on: {self.trained_on}" + (f" ({self.run})" if self.run else ""),
            f"Instance features: {feats}",
            "Weights: " + ("NVIDIA checkpoint" if self.source == "nvidia" else "p2phd bundle"),
        ]
        if self.path is not None:
            out.append(f"Folder: {self.path}")
        return out


def demo_path() -> Path | None:
    return None if DEMO is None else Path(DEMO)


def is_demo(path: str | Path | None) -> bool:
    demo = demo_path()
    if path is None or demo is None:
        return False
    try:
        return Path(path).resolve() == demo.resolve()
    except OSError:
        return False


def readme_trained_on(folder: Path | None) -> str | None:
    """``8 Cityscapes frames`` from a README whose first lines say "... trained on 8 Cityscapes frames"."""
    if folder is None or not (folder / "README.md").is_file():
        return None
    try:
        head = (folder / "README.md").read_text(encoding="utf-8", errors="replace")[:2000]
    except OSError:
        return None
    for line in head.splitlines()[:5]:
        found = TRAINED_ON.search(line)
        if found:
            return found["what"].strip()
    return None


def card_for(config: ModelConfig, path: Path | None, source: str = "bundle", has_encoder: bool = False,
             feature_classes: int = 0) -> ModelCard:  # fmt: skip
    prov = dict(config.provenance or {})
    name = str(prov.get("name") or (path.name if path else "unnamed"))
    if config.native_width and config.native_height:
        size = f"{config.native_width} x {config.native_height}"
    else:
        size = f"any (multiples of {config.size_multiple})"
    trained_on = prov.get("trained_on") or readme_trained_on(path)
    if not trained_on and source == "nvidia":
        trained_on = f"{NOT_RECORDED} (NVIDIA's release)"
    run = ""
    if "epoch" in prov:
        run = f"epoch {prov['epoch']}" + (f", {prov['total_steps']} steps" if "total_steps" in prov else "")
    return ModelCard(
        name=name,
        native_size=size,
        trained_on=str(trained_on or NOT_RECORDED),
        instance_features=bool(config.instance_feat and (has_encoder or feature_classes)),
        feature_classes=int(feature_classes),
        source=source,
        is_demo=is_demo(path),
        path=path,
        run=run,
    )


def model_card(bundle) -> ModelCard:
    """The card of a loaded :class:`~p2phd.models.checkpoint.bundle.Bundle`."""
    return card_for(
        bundle.config,
        bundle.path,
        bundle.source,
        has_encoder=bundle.E is not None,
        feature_classes=len(bundle.clusters or {}),
    )
