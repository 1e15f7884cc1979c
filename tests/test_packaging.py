"""pyproject.toml lists packages explicitly (house style 13): every package on disk must be listed,
or an installed (non-editable) copy would miss it."""

from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib", reason="tomllib needs Python 3.11")

ROOT = Path(__file__).resolve().parents[1]


def test_every_package_is_listed_in_pyproject():
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    on_disk = {
        ".".join(init.parent.relative_to(ROOT).parts)
        for top in ("models", "editor")
        for init in (ROOT / top).rglob("__init__.py")
    }
    assert on_disk == listed
