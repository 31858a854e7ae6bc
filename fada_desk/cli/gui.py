"""``fada-desk gui [PATH]``: start the workstation (the default command)."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("gui", help="start the workstation window (default)")
    p.add_argument("path", nargs="?", help="file, folder, device:N or stream URL to open")
    p.add_argument("--sample", action="store_true",
                   help="open the bundled sample cine when no path is given and no capture device exists")
    return p


def run(args: argparse.Namespace) -> int:
    from fada_desk.qt.app import run_app

    return run_app(path=args.path, sample=args.sample)
