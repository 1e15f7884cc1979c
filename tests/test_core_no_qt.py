"""The document core imports and works with PySide6 and torch unavailable (house style: two layers)."""

import pkgutil
import subprocess
import sys
import textwrap
from pathlib import Path

import p2phd.editor as editor

CORE_MODULES = sorted(f"p2phd.editor.{m.name}" for m in pkgutil.iter_modules(editor.__path__) if m.name != "qt")

SCRIPT = textwrap.dedent(
    """
    import importlib, sys

    class Blocker:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("PySide6", "torch", "torchvision", "shiboken6"):
                raise ImportError(f"{name} is blocked in this test")
            return None

    sys.meta_path.insert(0, Blocker())
    for name in sys.argv[1:]:
        importlib.import_module(name)
    from p2phd.editor.document import Document
    from p2phd.editor.template import new_from_template
    doc = new_from_template(256, 128)
    doc.paint_stroke([(10, 100), (60, 110)], 26, 4)
    doc.undo()
    bad = [m for m in sys.modules if m.split(".")[0] in ("PySide6", "torch")]
    assert not bad, bad
    print("ok", len(sys.argv) - 1)
    """
)


def test_core_imports_without_qt_and_torch():
    assert "p2phd.editor.document" in CORE_MODULES and "p2phd.editor.autosave" in CORE_MODULES
    root = Path(editor.__file__).resolve().parents[1]  # cwd: the source tree, whose folders must not shadow p2phd.*
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, *CORE_MODULES], capture_output=True, text=True, timeout=120, cwd=root
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"ok {len(CORE_MODULES)}"
