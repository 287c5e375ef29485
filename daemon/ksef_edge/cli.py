"""`ksef-edge` command line: a thin dispatcher over `ksef_edge.commands.*`.

Each module in `commands/` exposes `register(subparsers)` and sets `func(args) -> int` on its parsers,
so a new command is a new file, with no edit here.
"""
from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from . import __version__, commands


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ksef-edge", description="Offline-first KSeF invoicing daemon")
    parser.add_argument("--version", action="version", version=f"ksef-edge {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{commands.__name__}.{info.name}")
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
