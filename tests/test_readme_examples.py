"""The README's Python examples run as written (scripted editing, then rendering with the demo model)."""

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)


def test_readme_python_examples_run(tmp_path, monkeypatch, capsys):
    blocks = _python_blocks()
    assert len(blocks) >= 2, "README lost its scripted-editing and engine examples"
    if not (ROOT / "checkpoints" / "demo" / "config.json").is_file():
        pytest.skip("checkpoints/demo is absent")
    monkeypatch.chdir(tmp_path)  # the example writes its files into the current directory
    code = "\n".join(blocks).replace('"checkpoints/demo"', repr(str(ROOT / "checkpoints" / "demo")))
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)
    assert (tmp_path / "scene.p2phd").is_file() and (tmp_path / "scene_gtFine_labelIds.png").is_file()
    config = json.loads((ROOT / "checkpoints" / "demo" / "config.json").read_text())
    native = (config["native_height"], config["native_width"], 3)
    assert namespace["image"].shape == native  # the demo model renders at its native size
    assert "pixels" in capsys.readouterr().out  # the subscribed callback saw change events
