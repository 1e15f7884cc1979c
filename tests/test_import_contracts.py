"""The two-layer rule (house style 1): import-linter contracts in pyproject.toml hold, and the
Qt-free contract lists every module of the editor core, so a new module cannot slip past it."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib", reason="tomllib needs Python 3.11")

ROOT = Path(__file__).resolve().parents[1]


def _contracts():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]


def test_qt_free_contract_lists_every_core_module():
    core = next(c for c in _contracts() if "document core" in c["name"])
    on_disk = {f"p2phd.editor.{p.stem}" for p in (ROOT / "editor").glob("*.py") if p.stem != "__init__"}
    assert on_disk <= set(core["source_modules"]), sorted(on_disk - set(core["source_modules"]))
    assert {"PySide6", "torch", "p2phd.editor.qt"} <= set(core["forbidden_modules"])


def test_import_contracts_are_kept(tmp_path):
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    if exe is None:
        pytest.skip("import-linter is not installed (pip install -e '.[dev]')")
    # grimp walks packages on disk by their dotted names; the source tree maps p2phd.models to
    # models/ (setuptools package-dir), so give it a p2phd/ folder of links, first on the path.
    farm = tmp_path / "p2phd"
    farm.mkdir()
    for name in ("models", "editor"):
        (farm / name).symlink_to(ROOT / name, target_is_directory=True)
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "PYTHONIOENCODING": "utf-8"}
    # utf-8 whatever the locale: import-linter draws its banner with box characters
    run = subprocess.run(
        [exe, "--no-cache"], cwd=ROOT, capture_output=True, encoding="utf-8", errors="replace", env=env
    )
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
