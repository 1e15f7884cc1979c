"""Before Qt opens a window on Linux: is there a display, and can Qt's xcb (X11) plugin load its system
libraries (named here with their Debian/Ubuntu packages)? Without either ``QApplication`` aborts the whole
process (SIGABRT); the editor says in one line what is wrong instead."""

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


def window_problem(
    environ: Mapping[str, str] = os.environ, platform: str = sys.platform, loads: Callable[[str], bool] = _loads
) -> str | None:
    """Why Qt could not open a window here (one line), or None."""
    missing = missing_packages(environ, platform, loads)
    if missing:
        return missing_message(missing)
    if not platform.startswith("linux") or environ.get("QT_QPA_PLATFORM"):
        return None
    if not (environ.get("DISPLAY") or environ.get("WAYLAND_DISPLAY")):
        return (
            "no display found (DISPLAY and WAYLAND_DISPLAY are unset): run it on a desktop, under xvfb-run, "
            "or with QT_QPA_PLATFORM=offscreen for scripted use"
        )
    return None
