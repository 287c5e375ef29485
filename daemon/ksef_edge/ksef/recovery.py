"""Rebuild from KSeF what a lost till sent after its last backup, and resolve a restored backlog in bulk.

After `backup restore` / `migrate-in` of an old backup, KSeF may hold invoices the outbox does not
(the lost device sent them after the backup) and invoices the outbox still has as `issued` (sent
after the backup, acknowledged only on the lost device). One pass of the official metadata query
(POST /invoices/query/metadata, 250 per page, group invoiceMetadata: 20 per hour) covers both:
- an `issued` invoice whose number KSeF holds with the same hash is marked `accepted` with its KSeF
  number at once, in one transaction: no upload, no 440 duplicate, no lookup per invoice. Its UPO
  cannot be fetched (KSeF gives UPOs per upload session, and the metadata names none); the KSeF
  number is the proof of receipt, as it is for the recovered ones;
- an invoice KSeF holds and the outbox does not is downloaded by KSeF number (GET
  /invoices/ksef/{ksefNumber}, group invoiceDownload: 64 per hour) and stored in
  `recovered_invoices` with KSeF's exact bytes, after checking them against the query's hash.
The pacer spaces the requests within KSeF's limits; a rerun skips what is already stored.
"""
from __future__ import annotations

import asyncio
import base64
import datetime as dt
import hashlib
import logging
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from .client import KsefClient
from .errors import KsefHttpError

log = logging.getLogger(__name__)

WARSAW = ZoneInfo("Europe/Warsaw")
WINDOW = dt.timedelta(days=89)  # KSeF: "at most 3 months" per query
PAGE_SIZE = 250  # the largest page KSeF allows


@dataclass
class RecoveryReport:
    queries: int = 0  # metadata requests used
    seen: int = 0  # invoices KSeF listed for this seller in the range
    resolved: list[str] = field(default_factory=list)  # outbox `issued` -> `accepted`, no upload needed
    recovered: list[str] = field(default_factory=list)  # downloaded into recovered_invoices
    known: int = 0  # already in the outbox as sent, or recovered before
    conflicts: list[str] = field(default_factory=list)  # same number in the outbox, other content


@dataclass(frozen=True)
class _Outbox:
    by_number: dict[str, tuple[int, str, bytes, str | None]]  # number -> (id, state, sha256, ksef_number)
    recovered: set[str]  # KSeF numbers already in recovered_invoices


def _b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode()


def _read_outbox(db: Path) -> _Outbox:
    con = sqlite3.connect(str(db))
    try:
        rows = con.execute("SELECT id, number, state, sha256, ksef_number FROM invoices")
        by_number = {r[1]: (int(r[0]), str(r[2]), bytes(r[3]), r[4]) for r in rows}
        recovered = {r[0] for r in con.execute("SELECT ksef_number FROM recovered_invoices")}
        return _Outbox(by_number, recovered)
    finally:
        con.close()


def default_since(db: Path) -> dt.date:
    """From the newest invoice the outbox holds, or its oldest one not yet in KSeF, if earlier."""
    con = sqlite3.connect(str(db))
    try:
        row = con.execute(
            "SELECT MIN(d) FROM (SELECT MAX(issue_date) AS d FROM invoices "
            "UNION ALL SELECT MIN(issue_date) FROM invoices WHERE state IN ('issued', 'sending'))"
        ).fetchone()
    finally:
        con.close()
    return dt.date.fromisoformat(row[0]) if row and row[0] else dt.datetime.now(WARSAW).date()


async def _list_range(client: KsefClient, seller_nip: str, start: dt.datetime, end: dt.datetime,
                      report: RecoveryReport) -> list[dict[str, Any]]:
    """Every metadata record in [start, end], in windows of <= 3 months, pages of 250, re-anchored
    when KSeF truncates a filter set at 10 000 records."""
    found: dict[str, dict[str, Any]] = {}
    window_start = start
    while window_start <= end:
        window_end = min(end, window_start + WINDOW)
        offset, anchor = 0, window_start
        while True:
            body = await client.query_invoice_metadata({
                "subjectType": "Subject1",
                "sellerNip": seller_nip,
                "dateRange": {"dateType": "Issue", "from": anchor.isoformat(), "to": window_end.isoformat()},
            }, page_offset=offset, page_size=PAGE_SIZE)
            report.queries += 1
            page = [i for i in body["invoices"] if isinstance(i, dict) and i.get("ksefNumber")]
            for item in page:
                found[str(item["ksefNumber"])] = item
            if not body.get("hasMore"):
                break
            if body.get("isTruncated") and page:
                last = dt.datetime.combine(dt.date.fromisoformat(str(page[-1]["issueDate"])), dt.time(), WARSAW)
                if last <= anchor:
                    log.warning("KSeF truncated the list at one issue date (%s); some may be missing", last.date())
                    break
                anchor, offset = last, 0
            else:
                offset += 1
        window_start = window_end + dt.timedelta(seconds=1)
    return list(found.values())


def pending_restore(db: Path) -> bool:
    """True when the outbox was restored from a backup or replica and KSeF was not asked yet."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        if con.execute("SELECT 1 FROM sqlite_master WHERE name = 'numbering_incarnations'").fetchone() is None:
            return False
        row = con.execute("SELECT recovered_at FROM numbering_incarnations ORDER BY incarnation DESC LIMIT 1"
                          ).fetchone()
        return row is not None and row[0] is None
    finally:
        con.close()


async def recover_then_start(db: Path, client: KsefClient, *, seller_nip: str, start: Callable[[], object],
                             timeout_s: float = 300.0) -> None:
    """The daemon after a restore: resolve in bulk first, so the uplink does not re-upload what KSeF
    has (one 440 and one lookup each); then start the uplink, whatever KSeF answered."""
    try:
        if await asyncio.to_thread(pending_restore, db):
            log.info("outbox restored from a backup: asking KSeF what it already holds before uploading")
            report = await asyncio.wait_for(recover_from_ksef(db, client, seller_nip=seller_nip), timeout_s)
            log.info("after the restore: %d already in KSeF (marked accepted), %d recovered from KSeF, "
                     "%d metadata queries", len(report.resolved), len(report.recovered), report.queries)
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        log.warning("could not ask KSeF after the restore (%s); run `ksef-edge recover` later", exc)
    start()


def _apply(db: Path, resolved: list[tuple[int, str]], recovered: list[tuple[dict[str, Any], bytes]],
           now: dt.datetime) -> int:
    """One transaction: resolved invoices to `accepted`, downloaded ones into recovered_invoices."""
    stamp = now.astimezone(dt.UTC).isoformat(timespec="seconds")
    con = sqlite3.connect(str(db), isolation_level=None, timeout=30)
    try:
        con.execute("BEGIN IMMEDIATE")
        try:
            changed = 0
            for invoice_id, ksef_number in resolved:
                changed += con.execute(
                    "UPDATE invoices SET state = 'accepted', ksef_number = ?, updated_at = ? "
                    "WHERE id = ? AND state = 'issued'", (ksef_number, stamp, invoice_id)).rowcount
            for meta, xml in recovered:
                con.execute(
                    "INSERT OR IGNORE INTO recovered_invoices (ksef_number, number, xml, sha256, issue_date, "
                    "acquired_at, upo, recovered_at) VALUES (?, ?, ?, ?, ?, ?, NULL, ?)",
                    (meta["ksefNumber"], str(meta.get("invoiceNumber") or ""), xml, hashlib.sha256(xml).digest(),
                     str(meta.get("issueDate") or ""), meta.get("acquisitionDate"), stamp))
            con.execute("UPDATE numbering_incarnations SET recovered_at = ? WHERE recovered_at IS NULL", (stamp,))
            con.execute("COMMIT")
            return changed
        except BaseException:
            con.execute("ROLLBACK")
            raise
    finally:
        con.close()


async def recover_from_ksef(db: Path, client: KsefClient, *, seller_nip: str, since: dt.date | None = None,
                            now: dt.datetime | None = None) -> RecoveryReport:
    """Query KSeF for the seller's invoices issued since `since`; resolve and recover (module doc)."""
    now = now or dt.datetime.now(dt.UTC)
    if since is None:
        since = await asyncio.to_thread(default_since, db)
    report = RecoveryReport()
    try:  # pace by the limits KSeF publishes for this context (the production table otherwise)
        client.pacer.update_limits(await client.rate_limits())
    except KsefHttpError as exc:
        log.info("GET /rate-limits refused (%s); pacing by production limits", exc)
    start = dt.datetime.combine(since, dt.time(), WARSAW)
    listed = await _list_range(client, seller_nip, start, now.astimezone(WARSAW), report)
    report.seen = len(listed)
    outbox = await asyncio.to_thread(_read_outbox, db)
    resolved: list[tuple[int, str]] = []
    to_download: list[dict[str, Any]] = []
    for meta in sorted(listed, key=lambda m: (str(m.get("issueDate")), str(m.get("invoiceNumber")))):
        ksef_number, number = str(meta["ksefNumber"]), str(meta.get("invoiceNumber") or "")
        mine = outbox.by_number.get(number)
        if ksef_number in outbox.recovered:
            report.known += 1
        elif mine is None:
            to_download.append(meta)
        elif _b64(mine[2]) != meta.get("invoiceHash"):
            report.conflicts.append(number)
        elif mine[1] == "issued":
            resolved.append((mine[0], ksef_number))
            report.resolved.append(number)
        else:
            report.known += 1
    downloaded: list[tuple[dict[str, Any], bytes]] = []
    for meta in to_download:
        xml = await client.download_invoice(str(meta["ksefNumber"]))
        if _b64(hashlib.sha256(xml).digest()) != meta.get("invoiceHash"):
            report.conflicts.append(str(meta.get("invoiceNumber")))
            log.error("invoice %s downloaded from KSeF does not match the hash KSeF listed; not stored",
                      meta.get("ksefNumber"))
            continue
        downloaded.append((meta, xml))
        report.recovered.append(str(meta.get("invoiceNumber") or meta["ksefNumber"]))
    await asyncio.to_thread(_apply, db, resolved, downloaded, now)
    return report


__all__ = ["RecoveryReport", "default_since", "pending_restore", "recover_from_ksef", "recover_then_start"]
