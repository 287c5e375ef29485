"""Finding an old invoice on the device: by number, issue-date range, amount, buyer NIP or name, state.

The searchable facts (gross, buyer, payment, receipt) live in the signed XML, so `invoice_search`
holds a copy read from each stored document. It is derived, never trusted over the XML: rows are
added by a catch-up (every invoice with an id above the newest indexed one), so nothing written by
any path (issue, correction, restore, migration) is missed, and no issuing code has to know about it.
"""
from __future__ import annotations

import datetime as dt
import sqlite3
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from lxml import etree

from ..domain.fa3 import safe_parser
from ..domain.fiscal_receipt import receipt_of_fa

PAGE_MAX = 100
CATCH_UP_BATCH = 500


@dataclass(frozen=True)
class SearchQuery:
    number: str | None = None  # a part of the number, e.g. "0042" or "FV/2026/12"
    date_from: dt.date | None = None  # issue date (P_1), inclusive
    date_to: dt.date | None = None
    amount_min: Decimal | None = None  # gross (P_15), inclusive
    amount_max: Decimal | None = None
    buyer_nip: str | None = None
    buyer_name: str | None = None  # a part of the name, any letter case
    state: str | None = None
    before: int | None = None  # paging: the last id of the previous page (newest first)
    limit: int = 20


@dataclass(frozen=True)
class SearchHit:
    id: int
    number: str
    kind: str
    issue_date: str
    created_at: str
    state: str
    ksef_number: str | None
    gross: str
    buyer_nip: str | None
    buyer_name: str | None
    receipt_no: str | None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _cents(value: Decimal) -> int:
    return int((value * 100).to_integral_value())


def index_row(xml: bytes) -> tuple[int, str | None, str | None, str | None, str | None, str | None]:
    """(gross cents, buyer NIP, casefolded name, name, payment code, receipt number) of one stored XML."""
    root = etree.fromstring(xml, safe_parser())
    ns = {"fa": etree.QName(root).namespace or ""}
    fa = root.find("fa:Fa", ns)
    try:
        gross = Decimal((root.findtext("fa:Fa/fa:P_15", namespaces=ns) or "0").strip())
    except InvalidOperation:
        gross = Decimal(0)
    name = root.findtext("fa:Podmiot2/fa:DaneIdentyfikacyjne/fa:Nazwa", namespaces=ns)
    receipt = receipt_of_fa(fa) if fa is not None else None
    return (
        _cents(gross),
        root.findtext("fa:Podmiot2/fa:DaneIdentyfikacyjne/fa:NIP", namespaces=ns),
        " ".join(name.split()).casefold() if name else None,
        name,
        root.findtext("fa:Fa/fa:Platnosc/fa:FormaPlatnosci", namespaces=ns),
        receipt.number if receipt else None,
    )


def catch_up_sync(conn: sqlite3.Connection) -> int:
    """Index the next batch of invoices not yet in `invoice_search`; returns how many (0: up to date)."""
    rows = conn.execute(
        "SELECT id, xml FROM invoices WHERE id > (SELECT COALESCE(MAX(invoice_id), 0) FROM invoice_search) "
        "ORDER BY id LIMIT ?", (CATCH_UP_BATCH,)
    ).fetchall()
    values = []
    for invoice_id, xml in rows:
        try:
            values.append((invoice_id, *index_row(bytes(xml))))
        except etree.XMLSyntaxError:  # a damaged row stays findable by number, date and state
            values.append((invoice_id, 0, None, None, None, None, None))
    conn.executemany("INSERT OR REPLACE INTO invoice_search VALUES (?,?,?,?,?,?,?)", values)
    return len(values)


async def catch_up(store: Any) -> int:
    """Bring the index up to date: one indexed MAX lookup when it is; else batches of `CATCH_UP_BATCH`, each
    its own short write transaction, so a first search after an upgrade never holds up issuing for long."""
    done = 0
    while True:
        pending = await store.read_rows(
            "SELECT EXISTS (SELECT 1 FROM invoices WHERE id > (SELECT COALESCE(MAX(invoice_id), 0) FROM invoice_search))"
        )
        if not pending or not pending[0][0]:
            return done
        batch: int = await store.write_rows(catch_up_sync)
        if batch == 0:
            return done
        done += batch


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def build_sql(q: SearchQuery) -> tuple[str, list[Any]]:
    where: list[str] = ["i.id < ?"]
    params: list[Any] = [q.before if q.before is not None else 2**63 - 1]
    if q.number:
        where.append("i.number LIKE ? ESCAPE '\\'")
        params.append(_like(q.number))
    if q.date_from:
        where.append("i.issue_date >= ?")
        params.append(q.date_from.isoformat())
    if q.date_to:
        where.append("i.issue_date <= ?")
        params.append(q.date_to.isoformat())
    if q.amount_min is not None:
        where.append("s.gross_cents >= ?")
        params.append(_cents(q.amount_min))
    if q.amount_max is not None:
        where.append("s.gross_cents <= ?")
        params.append(_cents(q.amount_max))
    if q.buyer_nip:
        where.append("s.buyer_nip = ?")
        params.append(q.buyer_nip)
    if q.buyer_name:
        where.append("s.buyer_name LIKE ? ESCAPE '\\'")
        params.append(_like(" ".join(q.buyer_name.split()).casefold()))
    if q.state:
        where.append("i.state = ?")
        params.append(q.state)
    sql = (
        "SELECT i.id, i.number, i.kind, i.issue_date, i.created_at, i.state, i.ksef_number, "
        "s.gross_cents, s.buyer_nip, s.buyer_shown, s.receipt_no "
        "FROM invoices i JOIN invoice_search s ON s.invoice_id = i.id "
        f"WHERE {' AND '.join(where)} ORDER BY i.id DESC LIMIT ?"
    )
    params.append(max(1, min(int(q.limit), PAGE_MAX)))
    return sql, params


def _hit(row: tuple[Any, ...]) -> SearchHit:
    gross = Decimal(int(row[7])) / 100
    return SearchHit(
        id=int(row[0]), number=row[1], kind=row[2], issue_date=row[3], created_at=row[4], state=row[5],
        ksef_number=row[6], gross=f"{gross:.2f}", buyer_nip=row[8], buyer_name=row[9],
        receipt_no=row[10],
    )


async def search(store: Any, q: SearchQuery) -> tuple[list[SearchHit], int | None]:
    """One page of matches, newest first, and the cursor for the next page (None: this was the last)."""
    await catch_up(store)
    sql, params = build_sql(q)
    rows = await store.read_rows(sql, params)
    hits = [_hit(r) for r in rows]
    limit = max(1, min(int(q.limit), PAGE_MAX))
    return hits, (hits[-1].id if len(hits) == limit else None)
