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
    """Qt aborts the process when it finds no screen or its X11 libraries; say so in one line instead."""
    from p2phd.editor.qt.display_libraries import window_problem
    from p2phd.models.errors import P2PHDError

    problem = window_problem()
    if problem:
        raise P2PHDError(problem)


def run(args: argparse.Namespace) -> int:
    _check_display()
    from p2phd.editor.qt.app import run as run_app

    return run_app(args.file, args.instance, args.checkpoint, args.device, args.precision)
