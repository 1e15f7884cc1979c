"""``p2phd --help`` and the editor's window come up without importing torch (2.5 s on this machine),
and the CLI's vocabulary (devices, precisions, backends, dtype names) has one owner."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from p2phd.models import vocabulary

ROOT = Path(__file__).resolve().parents[1]


def _loaded_after(code: str) -> set[str]:
    """The heavy modules a fresh interpreter has imported after running ``code``."""
    probe = code + "\nimport sys\nprint('LOADED', *[m for m in ('torch', 'PySide6') if m in sys.modules])\n"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "P2PHD_CHECKPOINT": ""}
    run = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    line = next(line for line in run.stdout.splitlines() if line.startswith("LOADED"))
    return set(line.split()[1:])


def test_help_of_every_command_does_not_import_torch():
    code = (
        "import contextlib, io\n"
        "from p2phd.models.cli.main import build_parser, main\n"
        "parser = build_parser()\n"
        "names = list(next(a for a in parser._actions if a.dest == 'command').choices)\n"
        "assert {'synthesize', 'convert', 'train', 'encode', 'bench', 'edit'} <= set(names), names\n"
        "for argv in (['--help'], *[[n, '--help'] for n in names]):\n"
        "    with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
        "        main(argv)\n"
    )
    assert _loaded_after(code) == set()  # not even Qt: edit's parser is registered lazily


def test_the_editor_window_opens_before_torch_is_imported():
    code = (
        "import p2phd.editor.qt.app as app\n"
        "app.resolve_checkpoint = lambda explicit: None  # the model would load torch in the background\n"
        "window = app.open_editor()\n"
        "assert window.isVisible()\n"
    )
    assert _loaded_after(code) == {"PySide6"}


def test_the_vocabulary_has_one_owner():
    from p2phd.editor.qt import cli as edit_cli
    from p2phd.models.engine import precision

    assert precision.PRECISIONS is vocabulary.PRECISIONS and precision.DEVICES is vocabulary.DEVICES
    assert edit_cli.PRECISIONS is vocabulary.PRECISIONS and edit_cli.DEVICES is vocabulary.DEVICES
    assert [precision.torch_dtype(n) for n in ("fp32", "bf16", "fp16")] == [
        getattr(__import__("torch"), a) for a in ("float32", "bfloat16", "float16")
    ]
    assert all(precision.precision_name(precision.torch_dtype(n)) == n for n in vocabulary.DTYPE_NAMES)
    definition = re.compile(r"^(PRECISIONS|DEVICES|BACKENDS|DTYPE_NAMES|RESIZE_OR_CROP)\s*=", re.M)
    dtype_map = re.compile(r"""["']bf16["']\s*:\s*torch\.bfloat16|torch\.bfloat16\s*:\s*["']bf16["']""")
    owners = [
        str(path.relative_to(ROOT))
        for top in ("models", "editor")
        for path in (ROOT / top).rglob("*.py")
        if definition.search(path.read_text()) or dtype_map.search(path.read_text())
    ]
    assert owners == ["models/vocabulary.py"]


def test_size_and_bounded_integer_arguments():
    import argparse

    import pytest

    assert vocabulary.parse_size("1024X512") == (1024, 512)
    for bad in ("0x0", "65536x65536", "12", "axb", "-4x4"):
        with pytest.raises(argparse.ArgumentTypeError):
            vocabulary.parse_size(bad)
    assert vocabulary.bounded_int(0)("0") == 0
    with pytest.raises(argparse.ArgumentTypeError, match=">= 0"):
        vocabulary.bounded_int(0)("-1")
