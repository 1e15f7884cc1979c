"""``p2phd`` entry point: dispatches to subcommand modules and turns user errors into one line.

Each built-in subcommand lives in ``models/cli/<name>.py`` and exposes ``register(subparsers)``,
which adds its parser and sets ``func`` (called with the parsed namespace, returns an exit code).
Packages outside ``p2phd.models`` (the editor's ``edit``) add commands through the ``p2phd.commands``
entry-point group, so ``p2phd.models`` never imports them.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from importlib.metadata import entry_points

from p2phd.models.errors import P2PHDError

BUILTIN = ("synthesize", "convert", "train", "encode", "bench")
DEFAULT_COMMAND = "edit"  # plain ``p2phd`` opens the editor when it is installed


def _plugin_commands():
    try:
        return list(entry_points(group="p2phd.commands"))
    except Exception:  # a broken environment must not stop the CLI from starting
        return []


class OneLineParser(argparse.ArgumentParser):
    """Usage errors as one line on stderr and exit code 2, like every other user error."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="p2phd", description="pix2pixHD Studio: synthesize, train and edit Cityscapes scenes.")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in BUILTIN:
        try:
            module = importlib.import_module(f"p2phd.models.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"p2phd.models.cli.{name}":
                raise
            continue
        module.register(sub)
    for ep in _plugin_commands():
        if ep.name in sub.choices:
            continue
        try:
            ep.load()(sub)
        except Exception as exc:  # a broken plugin gets a command that explains, not a dead CLI
            _register_broken(sub, ep.name, exc)
    return parser


def _register_broken(sub, name: str, exc: Exception) -> None:
    def run(args):
        raise P2PHDError(f"the '{name}' command cannot start: {exc}")

    sub.add_parser(name, help=f"(unavailable: {exc})").set_defaults(func=run)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    sub_choices = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
    if not [a for a in argv if not a.startswith("-")] and "-h" not in argv and "--help" not in argv:
        if DEFAULT_COMMAND in sub_choices:
            argv = [*argv, DEFAULT_COMMAND]
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except (P2PHDError, OSError, ValueError) as exc:
        if args.debug:
            raise
        message = str(exc) or exc.__class__.__name__
        print(f"p2phd {args.command}: error: {message.splitlines()[0]}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"p2phd {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
