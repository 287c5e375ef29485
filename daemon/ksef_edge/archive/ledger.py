"""Which invoices were exported to an archive, with the hash of what was written.

Kept in the outbox database itself (table `archive_exports`, created here, outside the store's
numbered migrations: it only adds a table and never touches `invoices`), so a backup or a device
migration carries it along. Retention prunes only invoices whose exported hash matches the stored
one and whose export included the UPO.
"""
from __future__ import annotations

import datetime as dt
import sqlite3
from dataclasses import dataclass

TABLE_SQL = """
CREATE TABLE IF NOT EXISTS archive_exports (
    invoice_id   INTEGER PRIMARY KEY,
    number       TEXT NOT NULL,
    sha256       BLOB NOT NULL,
    with_upo     INTEGER NOT NULL CHECK (with_upo IN (0, 1)),
    exported_at  TEXT NOT NULL,
    destination  TEXT NOT NULL,
    pruned_at    TEXT
) STRICT
"""


@dataclass(frozen=True)
class ExportMark:
    invoice_id: int
    number: str
    sha256: bytes
    with_upo: bool


def ensure_table(con: sqlite3.Connection) -> None:
    con.execute(TABLE_SQL)


def record_exports(con: sqlite3.Connection, marks: list[ExportMark], destination: str, at: dt.datetime) -> None:
    """Remember the exports in one transaction; a later export of the same invoice replaces the mark
    unless it would downgrade it (an export without the UPO never hides an earlier one with it)."""
    stamp = at.astimezone(dt.timezone.utc).isoformat(timespec="seconds")
    con.execute("BEGIN IMMEDIATE")
    try:
        ensure_table(con)
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
