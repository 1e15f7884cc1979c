"""pyproject.toml lists packages explicitly (house style 13): every package on disk must be listed
under its installed name (``p2phd.`` + folder path), or an installed (non-editable) copy would miss it."""

from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib", reason="tomllib needs Python 3.11")

ROOT = Path(__file__).resolve().parents[1]


def _setuptools():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]


def test_every_package_is_listed_in_pyproject():
    on_disk = {
        "p2phd." + ".".join(init.parent.relative_to(ROOT).parts)
        for top in ("models", "editor", "checkpoints")
        for init in (ROOT / top).rglob("__init__.py")
    }
    assert on_disk == set(_setuptools()["packages"])


def test_installed_names_map_onto_the_product_folders():
    assert _setuptools()["package-dir"] == {
        "p2phd.models": "models",
        "p2phd.editor": "editor",
        "p2phd.checkpoints": "checkpoints",
    }
