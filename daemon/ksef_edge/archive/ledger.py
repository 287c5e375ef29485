"""Which invoices were exported to an archive, with the hash of what was written.

Kept in the outbox database itself (table `archive_exports`, store migration v4), so a backup or a
device migration carries it along. Retention prunes only invoices whose exported hash matches the
stored one and whose export included the UPO.
"""
from __future__ import annotations

import datetime as dt
import sqlite3
from dataclasses import dataclass

from ..store.migrations import latest_version, migrate_sync
from .errors import ArchiveError


@dataclass(frozen=True)
class ExportMark:
    invoice_id: int
    number: str
    sha256: bytes
    with_upo: bool


def ensure_schema(con: sqlite3.Connection) -> None:
    """Bring an outbox the daemon has not opened since an update to the current schema (it has
    `archive_exports` from migration v4 on). Call outside any transaction."""
    if int(con.execute("PRAGMA user_version").fetchone()[0]) >= latest_version():
        return
    try:
        migrate_sync(con)
    except Exception as exc:  # MigrationError / SchemaTooNewError carry the reason
        raise ArchiveError("schema", f"cannot bring the outbox to the current schema: {exc}") from None


def record_exports(con: sqlite3.Connection, marks: list[ExportMark], destination: str, at: dt.datetime) -> None:
    """Remember the exports in one transaction; a later export of the same invoice replaces the mark
    unless it would downgrade it (an export without the UPO never hides an earlier one with it)."""
    stamp = at.astimezone(dt.timezone.utc).isoformat(timespec="seconds")
    ensure_schema(con)
    con.execute("BEGIN IMMEDIATE")
    try:
        for m in marks:
            con.execute(
                "INSERT INTO archive_exports (invoice_id, number, sha256, with_upo, exported_at, destination) "
                "VALUES (?,?,?,?,?,?) ON CONFLICT (invoice_id) DO UPDATE SET number = excluded.number, "
                "sha256 = excluded.sha256, exported_at = excluded.exported_at, destination = excluded.destination, "
                "with_upo = excluded.with_upo WHERE excluded.with_upo >= archive_exports.with_upo",
                (m.invoice_id, m.number, m.sha256, int(m.with_upo), stamp, destination),
            )
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
