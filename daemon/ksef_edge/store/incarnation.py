"""Numbering incarnations: an outbox restored from a backup never issues a number the lost device used.

A backup is a picture of the past. The till it came from may have gone on issuing (#201-250 after a
backup at #200), printing receipts and sending some of them to KSeF, before it died; nobody can know
how far it got. So every restore from a backup starts a new *incarnation* of the numbering, and the
series of each invoice issued from then on carries its tag: `FV/KASA1/2026/02/000201` before,
`FV/KASA1-R2/2026/02/000001` after (docs/records.md, "Numbering after a restore"). A new series is
a new series in the sense of art. 106e ust. 1 pkt 2 VAT (a consecutive number within one or more
series that identifies the invoice uniquely), so no number can repeat, whatever the lost device did.

The incarnation lives in the outbox (table `numbering_incarnations`, store migration v6), so it
travels with later backups, and the next restore counts on from it. A planned move sealed with
`migrate-out` is exact (the old outbox is retired at the snapshot) and keeps the incarnation.
"""
from __future__ import annotations

import datetime as dt
import re
import sqlite3

FIRST = 1  # an outbox that was never restored from a backup: the series as configured


def _has_table(con: sqlite3.Connection) -> bool:
    return con.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'numbering_incarnations'"
    ).fetchone() is not None


def read_incarnation(con: sqlite3.Connection) -> int:
    """The outbox's current incarnation (1 before any restore, and for a schema before v6)."""
    if not _has_table(con):
        return FIRST
    row = con.execute("SELECT MAX(incarnation) FROM numbering_incarnations").fetchone()
    return int(row[0]) if row and row[0] is not None else FIRST


def start_incarnation(con: sqlite3.Connection, *, reason: str, source: str, at: dt.datetime,
                      at_least: int = FIRST) -> int:
    """Begin the next incarnation (the caller has migrated to v6+); returns its number.

    `at_least`: a floor the caller knows of from elsewhere (e.g. the outbox this restore replaces)."""
    if at.tzinfo is None:
        raise ValueError("timestamps must be timezone-aware")
    new = max(read_incarnation(con), at_least) + 1
    con.execute("BEGIN IMMEDIATE")
    try:
        con.execute(
            "INSERT INTO numbering_incarnations (incarnation, started_at, reason, source) VALUES (?, ?, ?, ?)",
            (new, at.astimezone(dt.UTC).isoformat(timespec="seconds"), reason, source),
        )
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return new


def tagged_pos(pos: str, incarnation: int) -> str:
    """`KASA1` in incarnation 1, `KASA1-R2` in the second, ... (readable on the receipt and in KSeF)."""
    return pos if incarnation <= FIRST else f"{pos}-R{incarnation}"


_TAG = re.compile(r"-R([0-9]+)$")


def untagged_pos(pos: str) -> tuple[str, int]:
    """(configured pos, incarnation) of a tagged pos."""
    m = _TAG.search(pos)
    return (pos[: m.start()], int(m.group(1))) if m else (pos, FIRST)


__all__ = ["FIRST", "read_incarnation", "start_incarnation", "tagged_pos", "untagged_pos"]
