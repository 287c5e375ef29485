"""Reads of the outbox (the query-only connection): one invoice, pages, the upload queue, counts."""
from __future__ import annotations

import datetime as dt
import sqlite3
from typing import Any, Callable, Iterable, Sequence

from .outbox_base import OutboxBase, T
from .records import (
    InvoiceRecord,
    InvoiceState,
    NotFoundError,
    PrintState,
)
from .rows import COLUMNS, FLOOR_SQL, I_COLUMNS, record_from_row, utc_text

LIST_LIMIT_MAX = 500
UPLOAD_PAGE_MAX = 10_000  # KSeF takes up to 10 000 invoices in one batch session


class OutboxReads(OutboxBase):
    async def clock_floor(self) -> dt.datetime | None:
        """The timestamp of the last issued invoice: the clock must not be earlier than this."""
        return await self._floor(self._reader)

    # ------------------------------------------------------------------------------------ reads

    async def get(self, invoice_id: int) -> InvoiceRecord:
        return await self._get(self._reader, invoice_id)

    async def get_xml(self, invoice_id: int) -> bytes:
        async with self._reader.execute("SELECT xml FROM invoices WHERE id = ?", (invoice_id,)) as cur:
            row = await cur.fetchone()
        if row is None:
            raise NotFoundError(f"invoice {invoice_id} does not exist")
        return bytes(row[0])

    async def get_request_json(self, invoice_id: int) -> str:
        """The canonical POS request the invoice was built from (to lay out a reprint)."""
        async with self._reader.execute("SELECT request_json FROM invoices WHERE id = ?", (invoice_id,)) as cur:
            row = await cur.fetchone()
        if row is None:
            raise NotFoundError(f"invoice {invoice_id} does not exist")
        return str(row[0])

    async def list_print_backlog(self, since: dt.datetime, limit: int) -> list[InvoiceRecord]:
        """Receipts not yet printed (pending / retrying) issued since `since`, oldest first."""
        async with self._reader.execute(
            f"SELECT {COLUMNS} FROM invoices WHERE print_state IN ('pending','printing','failed_retrying') "
            "AND created_at >= ? ORDER BY id LIMIT ?",
            (utc_text(since), max(1, min(int(limit), LIST_LIMIT_MAX))),
        ) as cur:
            return [record_from_row(r) for r in await cur.fetchall()]

    async def find_by_idempotency_key(self, key: str) -> InvoiceRecord | None:
        return await self._by_key(self._reader, key)

    async def list_oldest_first(
        self, *, state: InvoiceState | None = None, limit: int = 50, after: int = 0
    ) -> list[InvoiceRecord]:
        """Page through invoices by id (`after` = last id of the previous page)."""
        return await self._page("id > ?", int(after), "id", state, limit)

    async def list_newest_first(
        self, *, state: InvoiceState | None = None, limit: int = 50, before: int | None = None
    ) -> list[InvoiceRecord]:
        """Page through invoices newest first (`before` = last id of the previous page; None = from the newest).

        Added for the API's `GET /v1/invoices?order=desc` (the page's recent list); mirrors `list_oldest_first`.
        """
        return await self._page("id < ?", int(before) if before is not None else 2**63 - 1, "id DESC", state, limit)

    async def _page(
        self, cursor_sql: str, cursor: int, order_sql: str, state: InvoiceState | None, limit: int
    ) -> list[InvoiceRecord]:
        sql = f"SELECT {COLUMNS} FROM invoices WHERE {cursor_sql}"
        params: list[Any] = [cursor]
        if state is not None:
            sql += " AND state = ?"
            params.append(InvoiceState(state).value)
        sql += f" ORDER BY {order_sql} LIMIT ?"
        params.append(max(1, min(int(limit), LIST_LIMIT_MAX)))
        async with self._reader.execute(sql, params) as cur:
            return [record_from_row(r) for r in await cur.fetchall()]

    async def list_for_upload(self, limit: int) -> list[InvoiceRecord]:
        """Documents waiting for upload (state issued) that may be sent now, most urgent first, with their XML.

        A correction (KOR) is held back until its original is accepted (KSeF takes a correction only
        after the original has its KSeF number: docs/corrections.md). An original is due by the
        earliest of its own deadline and those of the corrections waiting for it
        (`domain.kor_ordering.upload_order` / `original_send_by`, done here in SQL).
        """
        limit = max(1, min(int(limit), UPLOAD_PAGE_MAX))
        # The waiting corrections' deadlines are aggregated once (partial index invoices_corrects), not
        # per row: a correlated subquery here made a 10 000-invoice backlog quadratic (minutes).
        async with self._reader.execute(
            "WITH waiting AS (SELECT corrects_id AS original, MIN(deadline) AS deadline FROM invoices "
            "WHERE corrects_id IS NOT NULL AND state = 'issued' GROUP BY corrects_id) "
            f"SELECT * FROM (SELECT {I_COLUMNS}, i.xml, "
            "COALESCE(MIN(i.deadline, w.deadline), i.deadline, w.deadline) AS due "
            "FROM invoices AS i LEFT JOIN invoices AS o ON o.id = i.corrects_id "
            "LEFT JOIN waiting AS w ON w.original = i.id "
            "WHERE i.state = 'issued' AND (i.corrects_id IS NULL OR o.state IN ('accepted','confirmed'))) "
            "ORDER BY due IS NULL, due, id LIMIT ?",
            (limit,),
        ) as cur:
            return [record_from_row(r[:-2], xml=bytes(r[-2])) for r in await cur.fetchall()]

    async def corrections_of(self, original_id: int) -> list[InvoiceRecord]:
        """The correction invoices of `original_id`, in issue order."""
        async with self._reader.execute(
            f"SELECT {COLUMNS} FROM invoices WHERE corrects_id = ? ORDER BY id", (original_id,)
        ) as cur:
            return [record_from_row(r) for r in await cur.fetchall()]

    async def blocked_corrections(self, limit: int = LIST_LIMIT_MAX) -> list[tuple[InvoiceRecord, InvoiceRecord]]:
        """(correction, original) pairs of corrections still waiting for their original's KSeF number."""
        o_columns = ", ".join(f"o.{c.strip()}" for c in COLUMNS.split(","))
        width = len(COLUMNS.split(","))
        async with self._reader.execute(
            f"SELECT {I_COLUMNS}, {o_columns} FROM invoices AS i JOIN invoices AS o ON o.id = i.corrects_id "
            "WHERE i.state = 'issued' AND o.state NOT IN ('accepted','confirmed') ORDER BY i.id LIMIT ?",
            (max(1, min(int(limit), LIST_LIMIT_MAX)),),
        ) as cur:
            return [(record_from_row(r[:width]), record_from_row(r[width:])) for r in await cur.fetchall()]

    async def counts_by_state(self) -> dict[str, int]:
        return await self._counts("state", InvoiceState)

    async def counts_by_print_state(self) -> dict[str, int]:
        return await self._counts("print_state", PrintState)

    async def _counts(self, column: str, states: Iterable[InvoiceState | PrintState]) -> dict[str, int]:
        """Invoices per value of `column`, every state present (0 when none)."""
        counts = {s.value: 0 for s in states}
        async with self._reader.execute(f"SELECT {column}, COUNT(*) FROM invoices GROUP BY {column}") as cur:
            for state, n in await cur.fetchall():
                counts[state] = int(n)
        return counts

    async def nearest_deadline(self) -> dt.date | None:
        """Earliest upload deadline among invoices not yet accepted by KSeF."""
        async with self._reader.execute(
            "SELECT MIN(deadline) FROM invoices WHERE state IN ('issued','sending','rejected') AND deadline IS NOT NULL"
        ) as cur:
            row = await cur.fetchone()
        return dt.date.fromisoformat(row[0]) if row and row[0] else None

    async def read_rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """A read-only query on the reader connection, for the report and search modules (reports/, store/search.py)."""
        async with self._reader.execute(sql, tuple(params)) as cur:
            return [tuple(row) for row in await cur.fetchall()]

    async def write_rows(self, body: Callable[[sqlite3.Connection], T]) -> T:
        """`body(conn)` in one write transaction, for derived tables kept by other modules (store/search.py)."""
        return await self._write_transaction(body)

    async def ping(self) -> None:
        async with self._reader.execute("SELECT 1") as cur:
            await cur.fetchone()

    # -------------------------------------------------------------------------------- internals

    @staticmethod
    async def _floor(conn: Any) -> dt.datetime | None:
        async with conn.execute(FLOOR_SQL) as cur:
            row = await cur.fetchone()
        return dt.datetime.fromisoformat(row[0]) if row else None

    @staticmethod
    async def _by_key(conn: Any, key: str) -> InvoiceRecord | None:
        async with conn.execute(f"SELECT {COLUMNS} FROM invoices WHERE idempotency_key = ?", (key,)) as cur:
            row = await cur.fetchone()
        return record_from_row(row) if row else None

    @staticmethod
    async def _get(conn: Any, invoice_id: int) -> InvoiceRecord:
        async with conn.execute(f"SELECT {COLUMNS} FROM invoices WHERE id = ?", (invoice_id,)) as cur:
            row = await cur.fetchone()
        if row is None:
            raise NotFoundError(f"invoice {invoice_id} does not exist")
        return record_from_row(row)
