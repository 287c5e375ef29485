"""`ksef-edge selfcheck --config FILE`: can this release run on this device? (exit 0/1)

The fleet updater runs it before switching releases: config, database (integrity, schema version
vs. this release's migrations; the database is not modified), and the signer with every
certificate check. Prints `OK ...` or the problem, one line each.
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import sqlite3
from pathlib import Path

from ..config import Config, ConfigError, load_config
from ..store.migrations import latest_version
from ..store.retirement import OutboxRetiredError, check_not_retired


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("selfcheck", help="check config, database and signer without starting (exit 0 = OK)")
    p.add_argument("--config", required=True, metavar="FILE")
    p.set_defaults(func=main)


def check_store(config: Config) -> str:
    path = Path(config.store.path)
    target = latest_version()
    if not path.exists():
        parent = path.parent
        while not parent.exists():
            parent = parent.parent
        if not os.access(parent, os.W_OK):
            raise RuntimeError(f"database {path} does not exist and {parent} is not writable")
        return f"database {path} will be created (schema v{target})"
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=config.store.busy_timeout_ms / 1000)
    try:
        rows = [r[0] for r in con.execute("PRAGMA quick_check")]
        if rows != ["ok"]:
            raise RuntimeError(f"database {path} failed PRAGMA quick_check: {rows[0] if rows else 'no result'}")
        have = con.execute("PRAGMA user_version").fetchone()[0]
        check_not_retired(con)  # moved to a new device by migrate-out: this release must not run here
    finally:
        con.close()
    if have > target:
        raise RuntimeError(f"database {path} is schema v{have}, newer than this release (v{target}); do not switch")
    if have < target:
        return f"database {path} ok (schema v{have}; will migrate to v{target} on start)"
    return f"database {path} ok (schema v{have})"


def check_signer(config: Config) -> str:
    from ..service import certificate_status, open_signer

    signer = open_signer(config, dt.datetime.now(dt.timezone.utc))
    try:
        cert = certificate_status(signer)
    finally:
        close = getattr(signer, "close", None)
        if close:
            close()
    warn = f"; warnings: {'; '.join(cert.warnings)}" if cert.warnings else ""
    return f"signer ok: certificate {cert.serial} ({cert.backend}) valid until {cert.not_after.date()}{warn}"


def main(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"FAIL config: {exc}")
        return 1
    print(f"OK config {args.config}")
    ok = True
    for name, check in (("store", check_store), ("signer", check_signer)):
        try:
            print(f"OK {check(config)}")
        except OutboxRetiredError as exc:  # nothing else matters: this device must not run at all
            print(f"FAIL {name}: {exc}")
            return 1
        except Exception as exc:  # every problem becomes one line
            print(f"FAIL {name}: {exc}")
            ok = False
    return 0 if ok else 1
