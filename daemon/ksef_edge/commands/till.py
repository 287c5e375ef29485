"""`ksef-edge till add|list|revoke`: one POS token per till (store/tills.py).

`add NAME` prints the new till's token once (it is stored only as a hash); `revoke NAME` locks that
till out at the next request, the daemon keeps running and the other tills keep issuing.
"""
from __future__ import annotations

import argparse
import sys

from ..command_args.guard import guarded
from ..config import ConfigError, load_config
from ..store.tills import TillError, TillRegistry


def _registry(args: argparse.Namespace) -> TillRegistry:
    cfg = load_config(args.config)
    registry = TillRegistry.open(cfg.store.path, migrate=True)
    registry.adopt(cfg.device.pos_id, cfg.api.token)  # the pre-till token, named by the config
    return registry


def _add(args: argparse.Namespace) -> int:
    registry = _registry(args)
    try:
        token = registry.add(args.name)
    finally:
        registry.close()
    print(f"till {args.name} added. Its token (shown only now; put it in the POS as `Authorization: Bearer ...`):")
    print(token)
    print("Token kasy jest pokazany tylko teraz: wpisz go w ustawieniach kasy i nie zapisuj go nigdzie indziej.",
          file=sys.stderr)
    return 0


def _list(args: argparse.Namespace) -> int:
    registry = _registry(args)
    try:
        for till in registry.list():
            state = f"revoked {till.revoked_at}" if till.revoked_at else "active"
            print(f"{till.name}\t{state}\tsince {till.created_at}")
    finally:
        registry.close()
    return 0


def _revoke(args: argparse.Namespace) -> int:
    registry = _registry(args)
    try:
        registry.revoke(args.name)
    finally:
        registry.close()
    print(f"till {args.name} revoked: its token is refused from the next request on")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    till = subparsers.add_parser("till", help="named tills: one POS token each (add, list, revoke)")
    sub = till.add_subparsers(dest="till_command", metavar="STEP", required=True)
    for name, func, text in (("add", _add, "add a till and print its token once"),
                             ("list", _list, "list the tills"),
                             ("revoke", _revoke, "revoke a till's token at once")):
        p = sub.add_parser(name, help=text)
        if name != "list":
            p.add_argument("name", help="the till's name, e.g. KASA2")
        p.add_argument("--config", default="/etc/ksef-edge/device.toml", help="device config")
        p.set_defaults(func=guarded("ksef-edge till", (TillError, ConfigError), func))
