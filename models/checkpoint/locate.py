"""Where a model's files are, without loading anything (no torch here: the editor asks this before
its window opens). Three kinds of directory hold a model:

- ``bundle``: ours, ``config.json`` + ``G.safetensors`` (:mod:`.bundle`);
- ``nvidia``: NVIDIA's ``checkpoints/<name>/`` with ``*_net_G.pth`` (:mod:`.nvidia`);
- ``run``: a ``p2phd train`` run directory, whose model is its ``bundle/`` sub-directory.

:mod:`.loader` dispatches on :func:`locate`; the formats never look at each other.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from p2phd.models.errors import CheckpointError

ENV_VAR = "P2PHD_CHECKPOINT"


@dataclass(frozen=True)
class Location:
    kind: str  # "bundle" or "nvidia" (a run directory resolves to its bundle)
    path: Path  # the directory holding the model's files
    run_dir: Path | None = None  # the training run it belongs to, if any
    options: dict = field(default_factory=dict, compare=False)  # that run's training options


def find_checkpoint(explicit: str | os.PathLike | None = None) -> Path:
    """Explicit path, then ``$P2PHD_CHECKPOINT``, then the demo bundle installed with the package."""
    for candidate, origin in ((explicit, "given"), (os.environ.get(ENV_VAR), f"${ENV_VAR}")):
        if candidate:
            path = Path(candidate)
            if not path.exists():
                raise CheckpointError(f"checkpoint {origin} does not exist: {path}")
            return path
    from p2phd.checkpoints import DEMO  # installed with the package (wheel) or the source tree (editable)

    if (DEMO / "config.json").is_file():
        return DEMO
    raise CheckpointError(f"no checkpoint given: pass --checkpoint DIR or set ${ENV_VAR}")


def is_bundle_dir(path: Path) -> bool:
    return (path / "config.json").is_file()


def is_nvidia_dir(path: Path) -> bool:
    return path.is_dir() and not (path / "config.json").exists() and any(path.glob("*net_G.pth"))


def is_run_dir(path: Path) -> bool:
    return not is_bundle_dir(path) and ((path / "bundle").is_dir() or (path / "train" / "latest").is_file())


def run_options(run_dir: Path) -> dict:
    """The training options a run was started with (``options.json``), or {}."""
    options_file = run_dir / "options.json"
    if not options_file.is_file():
        return {}
    try:
        options = json.loads(options_file.read_text())
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"cannot read {options_file}: {exc}") from None
    if not isinstance(options, dict):
        raise CheckpointError(f"{options_file} does not hold a JSON object")
    return options


def locate(path: str | os.PathLike) -> Location:
    """What kind of model directory ``path`` is; a run directory resolves to its bundle."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"checkpoint not found: {path}")
    if not path.is_dir():
        raise CheckpointError(f"a checkpoint is a directory, not a file: {path}")
    if is_bundle_dir(path):
        return Location("bundle", path)
    if is_nvidia_dir(path):
        return Location("nvidia", path)
    if is_run_dir(path):
        if not is_bundle_dir(path / "bundle"):
            raise CheckpointError(f"training run {path} has no bundle yet (train writes it with each checkpoint)")
        return Location("bundle", path / "bundle", path, run_options(path))
    raise CheckpointError(
        f"{path} is neither a bundle (no config.json), an NVIDIA checkpoint (no *_net_G.pth) "
        "nor a training run (no bundle/)"
    )
