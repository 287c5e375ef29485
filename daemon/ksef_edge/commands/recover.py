"""`ksef-edge recover --config FILE [--since DATE]`: after a restore, take back from KSeF what the lost
till sent (exact bytes, stored as recovered) and mark the restored invoices KSeF already has as
accepted, with one metadata query per 250 invoices instead of one lookup each (ksef/recovery.py)."""
from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import sys
from pathlib import Path
from typing import Any

from ..command_args.archive_args import UsageError, run


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("recover", help="after a restore: fetch from KSeF what the lost device sent after the backup")
    p.add_argument("--config", required=True, metavar="FILE", help="device TOML (NIP, KSeF environment, token)")
    p.add_argument("--since", type=dt.date.fromisoformat, metavar="YYYY-MM-DD",
                   help="issue date to search from (default: the newest invoice in the outbox, or the oldest "
                        "one not yet in KSeF)")
    p.set_defaults(func=lambda a: run("recover", lambda: _recover(a)))


def _recover(args: argparse.Namespace) -> int:
    from ..config import ConfigError, load_config
    from ..ksef.errors import KsefError

    try:
        config = load_config(args.config)
    except ConfigError as exc:
        raise UsageError(f"config error: {exc}") from None
    try:
        report = asyncio.run(_run(config, args.since))
    except KsefError as exc:
        print(f"ksef-edge recover: KSeF did not answer as expected ({exc}); nothing was changed, "
              "run it again later", file=sys.stderr)
        return 1
    print(f"KSeF lists {report.seen} invoice(s) of NIP {config.seller.nip} in the range "
          f"({report.queries} metadata quer{'y' if report.queries == 1 else 'ies'})")
    print(f"already sent, marked accepted without uploading again: {len(report.resolved)}")
    print(f"recovered from KSeF (sent by the lost device after the backup): {len(report.recovered)}")
    for number in report.recovered:
        print(f"  recovered {number}")
    if report.conflicts:
        print(f"WARNING: {len(report.conflicts)} number(s) exist in KSeF with other content: "
              f"{', '.join(report.conflicts[:10])}; check them before correcting anything")
    return 0


async def _run(config: Any, since: dt.date | None) -> Any:
    from ..keystore.token_store import load_token
    from ..ksef.client import KsefClient
    from ..ksef.models import ContextIdentifier, environment_for
    from ..ksef.pacer import Pacer
    from ..ksef.recovery import recover_from_ksef
    from ..store.migrations import migrate_sync

    db = Path(config.store.path)
    if not db.exists():
        raise UsageError(f"{db} does not exist: restore a backup first (`ksef-edge backup restore`)")
    import sqlite3

    con = sqlite3.connect(str(db), isolation_level=None)
    try:
        migrate_sync(con)  # recovered_invoices comes with store v6
    finally:
        con.close()
    ksef = config.ksef
    token = load_token(config.keystore)
    env = environment_for(ksef.environment.value, ksef.api_base_url)
    async with KsefClient(env, context=ContextIdentifier(ksef.context_type, ksef.context_value),
                          token_provider=lambda: token, pacer=Pacer(), timeout_s=ksef.uplink_timeout_s) as client:
        return await recover_from_ksef(db, client, seller_nip=config.seller.nip, since=since)
