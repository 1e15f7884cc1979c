"""``p2phd edit``: registered through the ``p2phd.commands`` entry point. PySide6 is imported only
when the command runs, so ``p2phd --help`` and the other commands never load Qt."""

from __future__ import annotations

import argparse

from p2phd.models.vocabulary import DEVICES, PRECISIONS


def register(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "edit",
        help="open the editor (the default command)",
        description="Paint a Cityscapes label map and watch pix2pixHD synthesize the photo.",
    )
    parser.add_argument("file", nargs="?", metavar="PROJECT.p2phd | LABEL.png", help="project or label map to open")
    parser.add_argument("instance", nargs="?", metavar="INSTANCE.png", help="instance map for a label map")
    parser.add_argument("--checkpoint", metavar="DIR", help="bundle or NVIDIA checkpoint folder")
    parser.add_argument("--device", choices=DEVICES, default="auto")
    parser.add_argument("--precision", choices=PRECISIONS, default="auto")
    parser.set_defaults(func=run)
    return parser


def _check_display() -> None:
    """Qt aborts the process when it finds no screen, or when its X11 plugin's libraries are missing;
    say so in one line instead."""
    import os
    import sys

    from p2phd.editor.qt.display_libraries import missing_message, missing_packages
    from p2phd.models.errors import P2PHDError

    missing = missing_packages()
    if missing:
        raise P2PHDError(missing_message(missing))
    if not sys.platform.startswith("linux") or os.environ.get("QT_QPA_PLATFORM"):
        return
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        raise P2PHDError(
            "no display found (DISPLAY and WAYLAND_DISPLAY are unset): run it on a desktop, under xvfb-run, "
            "or with QT_QPA_PLATFORM=offscreen for scripted use"
        )


def run(args: argparse.Namespace) -> int:
    _check_display()
    from p2phd.editor.qt.app import run as run_app

    return run_app(args.file, args.instance, args.checkpoint, args.device, args.precision)
