"""Command line: ``fada-desk [SUBCOMMAND] ...``.

Without a subcommand the GUI starts; a first argument that is not a subcommand but
names a file, folder, ``device:N`` or stream URL opens it in the GUI (``fada-desk
scan.dcm``, what a file manager's "Open with fada_desk" runs). Each subcommand lives in its own module
``fada_desk.cli.<name>`` exposing ``add_parser(subparsers)`` and ``run(args) -> int``;
modules must import heavy libraries inside ``run`` only, so ``--help`` is instant.
Expected failures (:class:`~fada_desk.core.errors.FadaError`) print one line on
stderr and exit 1.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from fada_desk import __version__
from fada_desk.core.errors import FadaError

# Order = order in --help.
COMMAND_MODULES: tuple[str, ...] = (
    "gui",
    "info",
    "analyze",
    "evaluate",
    "models",
    "biometry",
    "export",
    "report",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fada-desk",
        description="Offline ultrasound workstation with the local FADA pipeline.",
    )
    parser.add_argument("--version", action="version", version=f"fada-desk {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        module = importlib.import_module(f"fada_desk.cli.{name}")
        p = module.add_parser(sub)
        p.set_defaults(_run=module.run)
    return parser


def opens_in_gui(first: str) -> bool:
    """True when ``first`` is something to open rather than a subcommand: an existing path, a
    ``device:N`` or a stream URL. A mistyped subcommand stays an argparse error."""
    from pathlib import Path

    if first in COMMAND_MODULES or first.startswith("-"):
        return False
    if first.startswith("device:") or "://" in first:
        return True
    try:
        return Path(first).expanduser().exists()
    except (OSError, ValueError):
        return False


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    if not args_list or (args_list[0].startswith("-") and args_list[0] not in ("-h", "--help", "--version")):
        args_list = ["gui", *args_list]
    elif opens_in_gui(args_list[0]):
        args_list = ["gui", *args_list]
    args = parser.parse_args(args_list)
    try:
        return int(args._run(args) or 0)
    except FadaError as err:
        print(f"fada-desk: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("fada-desk: interrupted", file=sys.stderr)
        return 130
