"""Which stored documents belong to a day or a till shift, read from the outbox file.

A day is the Polish civil issue date (P_1); a shift is a time range [from, to) on the issue time
(`created_at`, stored in UTC), so a shift crossing midnight is one report.
"""
from __future__ import annotations

import datetime as dt
from typing import Any

from .day_report import DayReport, StoredDocument, build_day_report

_SELECT = "SELECT id, number, kind, state, deadline, xml FROM invoices"


def _utc_text(ts: dt.datetime) -> str:
    """The stored `created_at` format (store/outbox.py `_utc`), so text comparison is time comparison."""
    return ts.astimezone(dt.UTC).isoformat(timespec="microseconds")


def _documents(rows: list[tuple[Any, ...]]) -> list[StoredDocument]:
    return [
        StoredDocument(int(r[0]), r[1], r[2], r[3], dt.date.fromisoformat(r[4]) if r[4] else None, bytes(r[5]))
        for r in rows
    ]


async def day_documents(store: Any, day: dt.date) -> list[StoredDocument]:
    rows = await store.read_rows(f"{_SELECT} WHERE issue_date = ? ORDER BY id", (day.isoformat(),))
    return _documents(rows)


async def shift_documents(store: Any, start: dt.datetime, end: dt.datetime) -> list[StoredDocument]:
    rows = await store.read_rows(
        f"{_SELECT} WHERE created_at >= ? AND created_at < ? ORDER BY id", (_utc_text(start), _utc_text(end))
    )
    return _documents(rows)


async def day_report(store: Any, day: dt.date) -> DayReport:
    docs = await day_documents(store, day)
    return build_day_report(docs, period={"date": day.isoformat()}, nearest_deadline=await store.nearest_deadline())


async def shift_report(store: Any, start: dt.datetime, end: dt.datetime) -> DayReport:
    docs = await shift_documents(store, start, end)
    period = {"from": start.isoformat(), "to": end.isoformat()}
    return build_day_report(docs, period=period, nearest_deadline=await store.nearest_deadline())
