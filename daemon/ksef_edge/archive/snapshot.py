"""A consistent copy of the live outbox, taken with SQLite's online backup API.

Never a file copy: while the daemon runs, committed invoices may still sit in the `-wal` file,
and a copy of the main file alone (or of both at slightly different moments) can be missing
them or be torn. `sqlite3.Connection.backup` with `pages=-1` copies every page inside one read
transaction, so the copy is exactly the database at one commit, while issuance carries on (WAL
readers never block the writer).
"""
from __future__ import annotations

import sqlite3
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .errors import ArchiveError

UNSENT_STATES = ("issued", "sending", "rejected")  # not (yet) in KSeF: this device holds the only copy


@dataclass(frozen=True)
class OutboxFacts:
    """What a backup holds, readable without decrypting it (stored in the header's metadata)."""

    schema_version: int
    invoices: int
    last_invoice_id: int
    last_created_at: str | None
    states: dict[str, int] = field(default_factory=dict)
    series: dict[str, int] = field(default_factory=dict)  # series -> highest seq (the numbering position)

    @property
    def unsent(self) -> int:
        return sum(self.states.get(s, 0) for s in UNSENT_STATES)

    def to_meta(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_meta(cls, meta: dict[str, Any]) -> "OutboxFacts":
        return cls(
            schema_version=int(meta.get("schema_version", 0)),
            invoices=int(meta.get("invoices", 0)),
            last_invoice_id=int(meta.get("last_invoice_id", 0)),
            last_created_at=meta.get("last_created_at"),
            states={str(k): int(v) for k, v in (meta.get("states") or {}).items()},
            series={str(k): int(v) for k, v in (meta.get("series") or {}).items()},
        )


def connect_existing(db_path: Path, *, timeout_s: float = 5.0) -> sqlite3.Connection:
    """Open an existing outbox (never create an empty one by mistake)."""
    if not db_path.is_file():
        raise ArchiveError(
            "no_database", f"outbox database {db_path} does not exist; check store.path in the device config"
        )
    con = sqlite3.connect(str(db_path), timeout=timeout_s, isolation_level=None)
    con.execute(f"PRAGMA busy_timeout = {int(timeout_s * 1000)}")
    return con


def outbox_facts(con: sqlite3.Connection) -> OutboxFacts:
    version = int(con.execute("PRAGMA user_version").fetchone()[0])
    has_table = con.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'invoices'").fetchone()
    if not has_table:
        return OutboxFacts(version, 0, 0, None)
    count, last_id = con.execute("SELECT COUNT(*), COALESCE(MAX(id), 0) FROM invoices").fetchone()
    row = con.execute("SELECT created_at FROM invoices ORDER BY id DESC LIMIT 1").fetchone()
    states = {s: int(n) for s, n in con.execute("SELECT state, COUNT(*) FROM invoices GROUP BY state")}
    series = {s: int(n) for s, n in con.execute("SELECT series, MAX(seq) FROM invoices GROUP BY series")}
    return OutboxFacts(version, int(count), int(last_id), row[0] if row else None, states, series)


def integrity_check(con: sqlite3.Connection, what: str) -> None:
    rows = [r[0] for r in con.execute("PRAGMA integrity_check").fetchall()]
    if rows != ["ok"]:
        raise ArchiveError(
            "integrity",
            f"{what} failed SQLite's integrity check ({rows[0] if rows else 'no result'}); "
            "the database is damaged: restore the newest good backup",
        )


def snapshot_database(db_path: Path, dest: Path, *, timeout_s: float = 5.0) -> OutboxFacts:
    """Copy the live outbox at `db_path` into `dest` (an empty file), check it, return its facts."""
    src = connect_existing(db_path, timeout_s=timeout_s)
    try:
        src.execute("PRAGMA query_only = ON")
        dst = sqlite3.connect(str(dest), isolation_level=None)
        try:
            src.backup(dst, pages=-1)  # one step = one read transaction = one consistent commit
            dst.execute("PRAGMA journal_mode = DELETE")  # a self-contained single file
            integrity_check(dst, f"the snapshot of {db_path}")
            facts = outbox_facts(dst)
        finally:
            dst.close()
    finally:
        src.close()
    return facts
