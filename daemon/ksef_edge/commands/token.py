"""`ksef-edge token set`: put the KSeF token into custody (read from stdin, never from argv)."""
from __future__ import annotations

import argparse
import getpass
import sys

from ..command_args.keystore_args import add_keystore_arguments, context_from_args, guarded
from ..keystore.token_store import load_token, store_token


def register(subparsers: argparse._SubParsersAction) -> None:
    token = subparsers.add_parser("token", help="KSeF token used by the uplink")
    sub = token.add_subparsers(dest="token_command", metavar="ACTION", required=True)
    st = sub.add_parser(
        "set",
        help="store the KSeF token (pipe it in: `ksef-edge token set < token.txt`; "
        "never pass it as an argument, argv is visible to every user)",
    )
    add_keystore_arguments(st)
    st.set_defaults(func=guarded(_set))
    check = sub.add_parser("check", help="check that the stored token can be opened (prints nothing secret)")
    add_keystore_arguments(check)
    check.set_defaults(func=guarded(_check))


def _set(args: argparse.Namespace) -> int:
    ctx = context_from_args(args)
    if sys.stdin.isatty():
        token = getpass.getpass("KSeF token (input hidden): ")
    else:
        token = sys.stdin.read()
    store_token(ctx.keystore, token)
    print(f"KSeF token stored ({ctx.keystore.backend} custody) in {ctx.keystore.token_path}")
    return 0


def _check(args: argparse.Namespace) -> int:
    ctx = context_from_args(args)
    token = load_token(ctx.keystore)
    print(f"KSeF token OK ({len(token)} characters, {ctx.keystore.backend} custody)")
    return 0
