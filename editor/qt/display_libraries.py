"""Before Qt opens a window on Linux/X11: the system libraries its xcb plugin loads, named with their
Debian/Ubuntu packages. Without one of them ``QApplication`` aborts the whole process (SIGABRT) with a
message about platform plugins; the editor says which package to install instead."""

from __future__ import annotations

import ctypes
import os
import sys
from collections.abc import Callable, Mapping

# soname -> package; the ones a minimal desktop-less Debian lacks (seen on this project's machines)
XCB_LIBRARIES = {
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
}


def _loads(soname: str) -> bool:
    try:
        ctypes.CDLL(soname)
    except OSError:
        return False
    return True


def uses_xcb(environ: Mapping[str, str], platform: str) -> bool:
    """Whether Qt will pick its xcb (X11) plugin: on Linux, asked for or by default under X11."""
    if not platform.startswith("linux"):
        return False
    asked = environ.get("QT_QPA_PLATFORM", "")
    if asked:
        return asked.split(":")[0].split(";")[0] == "xcb"
    return bool(environ.get("DISPLAY")) and not environ.get("WAYLAND_DISPLAY")


def missing_packages(
    environ: Mapping[str, str] = os.environ, platform: str = sys.platform, loads: Callable[[str], bool] = _loads
) -> list[str]:
    """The packages whose libraries Qt's xcb plugin would fail to load (empty when it is not used)."""
    if not uses_xcb(environ, platform):
        return []
    return [package for soname, package in XCB_LIBRARIES.items() if not loads(soname)]


def missing_message(packages: list[str]) -> str:
    return (
        f"the editor's window needs system libraries that are not installed: {', '.join(packages)} "
        f"(Debian/Ubuntu: sudo apt install {' '.join(packages)})"
    )
