"""One shape for a command's expected refusals: a known error is one line on stderr and exit code 2, never a
traceback (the operator reads the line and fixes the named thing)."""
from __future__ import annotations

import argparse
import sys
from typing import Callable

Command = Callable[[argparse.Namespace], int]


def guarded(prog: str, errors: tuple[type[Exception], ...], func: Command) -> Command:
    def run(args: argparse.Namespace) -> int:
        try:
            return func(args)
        except errors as exc:
            print(f"{prog}: error: {exc}", file=sys.stderr)
            return 2
    return run
