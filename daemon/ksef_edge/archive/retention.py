"""Pruning old invoices from the device once KSeF confirmed them and an archive holds them.

An invoice may go only when ALL hold: state `confirmed` with its UPO stored; issued before the
cut-off; exported with its UPO, and the exported hash equals the stored one; no stored correction
(KOR) refers to it, and it has no technical correction. Unsent, rejected, unconfirmed or unarchived
invoices are never touched.

The numbering position must survive: the store allocates the next number as MAX(seq)+1 of the
series and row ids as MAX(id)+1, and its clock floor is the newest row. So the newest invoice of
every series and the newest invoice overall are always kept, whatever their age; a number is
never handed out twice.
"""
from __future__ import annotations

import datetime as dt
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from ..civil_time import warsaw_date
from .ledger import ensure_schema
from .snapshot import connect_existing

_CANDIDATES = """
SELECT i.id, i.number FROM invoices AS i
JOIN archive_exports AS a ON a.invoice_id = i.id
WHERE i.state = 'confirmed' AND i.upo IS NOT NULL
  AND a.with_upo = 1 AND a.sha256 = i.sha256 AND a.pruned_at IS NULL
  AND i.issue_date < :cutoff
  AND i.id <> (SELECT MAX(id) FROM invoices)
  AND i.seq < (SELECT MAX(s.seq) FROM invoices AS s WHERE s.series = i.series)
{corrections}
ORDER BY i.id
"""
# an invoice a stored correction (KOR) refers to stays while that correction does (waiting for
# upload or not: the KOR's own upload and receipt reprints read the original); an invoice with a
# technical correction stays too (its accepted file lives in `technical_corrections`, keyed by it)
_NOT_CORRECTED = ("AND NOT EXISTS (SELECT 1 FROM invoices AS k WHERE k.corrects_id = i.id) "
                  "AND NOT EXISTS (SELECT 1 FROM technical_corrections AS t WHERE t.invoice_id = i.id)")


@dataclass(frozen=True)
class PruneResult:
    cutoff: dt.date
    pruned: list[str]  # invoice numbers
    dry_run: bool


def prune_archived(
    db_path: Path, *, older_than_days: int, today: dt.date | None = None, dry_run: bool = False,
    now: dt.datetime | None = None,
) -> PruneResult:
    """Delete confirmed + archived invoices issued more than `older_than_days` days before `today`."""
    if older_than_days < 1:
        raise ValueError("older_than_days must be at least 1 (0 would mean 'never prune' in the config)")
    now = now or dt.datetime.now(dt.timezone.utc)
    today = today or warsaw_date(now)  # issue dates are Warsaw civil dates; now.date() would be the UTC one
    cutoff = today - dt.timedelta(days=older_than_days)
    con = connect_existing(Path(db_path))
    try:
        ensure_schema(con)
        con.execute("BEGIN IMMEDIATE")  # decide and delete under the write lock: nothing changes between
        try:
            sql = _CANDIDATES.format(corrections=_NOT_CORRECTED)  # ensure_schema: v4, so both exist
            doomed = [(int(i), str(n)) for i, n in con.execute(sql, {"cutoff": cutoff.isoformat()})]
            if doomed and not dry_run:
                stamp = now.astimezone(dt.timezone.utc).isoformat(timespec="seconds")
                _delete(con, [i for i, _ in doomed], stamp)
            con.execute("ROLLBACK" if dry_run else "COMMIT")
        except BaseException:
            if con.in_transaction:
                con.execute("ROLLBACK")
            raise
    finally:
        con.close()
    return PruneResult(cutoff, [n for _, n in doomed], dry_run)


def _delete(con: sqlite3.Connection, ids: list[int], stamp: str) -> None:
    for start in range(0, len(ids), 500):
        part = ids[start:start + 500]
        marks = ",".join("?" for _ in part)
        con.execute(f"DELETE FROM invoices WHERE id IN ({marks}) AND state = 'confirmed'", part)
        con.execute(f"UPDATE archive_exports SET pruned_at = ? WHERE invoice_id IN ({marks})", (stamp, *part))
