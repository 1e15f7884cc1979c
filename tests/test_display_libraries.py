"""The editor names the missing X11 libraries instead of letting Qt abort the process."""

import os
import subprocess
import sys

from p2phd.editor.qt.display_libraries import (
    XCB_LIBRARIES,
    missing_message,
    missing_packages,
    uses_xcb,
)

X11 = {"DISPLAY": ":0"}


def test_a_missing_library_is_named_with_its_package():
    loads = lambda soname: soname != "libxcb-cursor.so.0"  # noqa: E731
    assert missing_packages(X11, "linux", loads) == ["libxcb-cursor0"]
    message = missing_message(["libxcb-cursor0"])
    assert "sudo apt install libxcb-cursor0" in message and "\n" not in message


def test_only_the_xcb_plugin_is_checked():
    none_load = lambda soname: False  # noqa: E731
    assert missing_packages(X11, "linux", none_load) == list(XCB_LIBRARIES.values())
    assert missing_packages({**X11, "QT_QPA_PLATFORM": "offscreen"}, "linux", none_load) == []
    assert missing_packages({**X11, "WAYLAND_DISPLAY": "wayland-0"}, "linux", none_load) == []
    assert missing_packages(X11, "darwin", none_load) == []
    assert uses_xcb({"QT_QPA_PLATFORM": "xcb"}, "linux") and not uses_xcb({}, "linux")


def test_p2phd_edit_says_what_to_install_instead_of_aborting(tmp_path):
    """A real process whose xcb libraries cannot load (a library path that shadows one with an empty file)."""
    (tmp_path / "libxcb-cursor.so.0").write_bytes(b"")  # dlopen fails on it: "file too short"
    env = {**os.environ, "DISPLAY": ":99", "QT_QPA_PLATFORM": "xcb", "HOME": str(tmp_path)}
    env["LD_LIBRARY_PATH"] = f"{tmp_path}:{env.get('LD_LIBRARY_PATH', '')}"
    done = subprocess.run(
        [sys.executable, "-m", "p2phd.models.cli.main", "edit"], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode not in (0, -6, 134), done.stderr  # a clear error, not a SIGABRT
    assert "libxcb-cursor0" in done.stderr and "apt install" in done.stderr
