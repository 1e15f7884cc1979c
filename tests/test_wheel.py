"""The installed wheel, not the source tree (house style 13): build a wheel offline, install it into
a fresh virtual environment and, from an unrelated directory, synthesize with the demo model shipped
as package data. ``models`` and ``editor`` are not importable there: only ``p2phd`` is installed.

The new environment borrows the current one's dependencies (torch, numpy ...) through a ``.pth``
file listing its site-packages directories; a plain path entry does not run the editable install's
import hook, so only the wheel can provide ``p2phd``."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ("models", "editor", "checkpoints", "pyproject.toml", "README.md")


def _run(argv, **kwargs) -> subprocess.CompletedProcess:
    run = subprocess.run(argv, capture_output=True, text=True, timeout=300, **kwargs)
    assert run.returncode == 0, f"{argv}\n{run.stdout[-2000:]}\n{run.stderr[-3000:]}"
    return run


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A virtual environment with the wheel installed; returns its bin directory."""
    setuptools = pytest.importorskip("setuptools")
    if tuple(int(x) for x in setuptools.__version__.split(".")[:2]) < (70, 1):
        pytest.skip(f"setuptools {setuptools.__version__} cannot build a wheel offline; pip install -e '.[dev]'")
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"  # a copy, so the build writes no build/ or egg-info into the tree
    src.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info")
    for name in SOURCES:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, src / name, ignore=ignore)
        else:
            shutil.copy2(path, src / name)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input"]
    _run([*pip, "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q", "-w", str(tmp / "dist"), str(src)])
    (wheel,) = (tmp / "dist").glob("pix2pixhd_studio-*.whl")
    venv = tmp / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)])
    bin_dir = venv / ("Scripts" if os.name == "nt" else "bin")
    python = bin_dir / ("python.exe" if os.name == "nt" else "python")
    _run([*pip, "--python", str(python), "install", "--no-deps", "--no-index", "-q", str(wheel)])
    purelib = Path(_run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"]).stdout.strip())
    ours = {str(Path(sysconfig.get_path("purelib")))}
    deps = [p for p in sys.path if p.endswith(("site-packages", "dist-packages")) and Path(p).is_dir()]
    (purelib / "zz_test_dependencies.pth").write_text("\n".join(dict.fromkeys([*ours, *deps])) + "\n")
    return bin_dir


def _clean_env(tmp: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "P2PHD_", "VIRTUAL_ENV"))}
    return {**env, "HOME": str(tmp), "QT_QPA_PLATFORM": "offscreen"}


@pytest.mark.slow
def test_the_wheel_synthesizes_with_the_demo_model_from_anywhere(installed, tmp_path):
    label = np.full((64, 128), 7, np.uint8)  # road below, sky and a building above
    label[:20] = 23
    label[20:40] = 11
    Image.fromarray(label).save(tmp_path / "label.png")
    env = _clean_env(tmp_path)
    p2phd = installed / ("p2phd.exe" if os.name == "nt" else "p2phd")
    argv = [str(p2phd), "synthesize", "--label", "label.png", "--out", "photo.png", "--device", "cpu"]
    _run([*argv, "--precision", "fp32"], cwd=tmp_path, env=env)
    photo = np.array(Image.open(tmp_path / "photo.png"))
    assert photo.ndim == 3 and photo.shape[2] == 3 and photo.std() > 1  # a picture, not a flat fill


@pytest.mark.slow
def test_only_p2phd_is_installed_and_it_comes_from_the_wheel(installed, tmp_path):
    code = (
        "import importlib.util, sys\n"
        "from pathlib import Path\n"
        "import p2phd.models, p2phd.editor.qt.app\n"
        "from p2phd.models.checkpoint.locate import find_checkpoint\n"
        "print(Path(p2phd.models.__file__).resolve())\n"
        "print(find_checkpoint().resolve())\n"
        "print(importlib.util.find_spec('models'), importlib.util.find_spec('editor'))\n"
    )
    python = installed / ("python.exe" if os.name == "nt" else "python")
    lines = _run([str(python), "-c", code], cwd=tmp_path, env=_clean_env(tmp_path)).stdout.splitlines()
    venv = installed.parent.resolve()
    assert Path(lines[0]).is_relative_to(venv) and not Path(lines[0]).is_relative_to(ROOT)
    assert Path(lines[1]).is_relative_to(venv) and (Path(lines[1]) / "G.safetensors").is_file()
    assert lines[2] == "None None"
