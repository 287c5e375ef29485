"""Receipts: lay out an issued invoice and hand it to `printing.PrintQueue`; mirror its state into the store.

Issuance never waits for the printer: the receipt is queued after the commit. A reprint (or a
receipt left unprinted by a restart) is laid out again from the stored POS request plus the stored
number, dates and QR links, so it needs no in-memory state.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
from typing import Any

from ..store import InvoiceRecord, OutboxStore, PrintState
from .invoice_request import InvoiceDraft, parse_invoice_request
from .issuer import InvoiceIssuer

log = logging.getLogger(__name__)

BACKLOG_MAX_AGE = dt.timedelta(hours=1)  # an older unprinted receipt: the customer has left
BACKLOG_MAX = 50


class ReceiptPrinter:
    def __init__(self, printer_config: Any, store: OutboxStore, issuer: InvoiceIssuer) -> None:
        from ..printing.print_queue import PrintQueue

        self._cfg = printer_config
        self._store = store
        self._issuer = issuer
        self._queue = PrintQueue(printer_config, on_state=self._on_state)
        self._pending: set[asyncio.Task[Any]] = set()

    async def start(self, now: dt.datetime) -> None:
        self._queue.start()
        for record in await self._store.list_print_backlog(now - BACKLOG_MAX_AGE, BACKLOG_MAX):
            await self.reprint(record, copy=False)

    async def close(self) -> None:
        await self._queue.stop()

    @property
    def state(self) -> str:
        if self._queue.printer_error:
            return f"error: {self._queue.printer_error}"
        return "ok" if not self._queue.depth else f"printing ({self._queue.depth} queued)"

    def on_issued(self, record: InvoiceRecord, draft: InvoiceDraft) -> None:
        self._submit(record, draft, copy=False)

    async def reprint(self, record: InvoiceRecord, *, copy: bool = True) -> None:
        raw = await self._store.get_request_json(record.id)
        try:
            draft = parse_invoice_request(json.loads(raw))
        except Exception as exc:  # noqa: BLE001 - an old row without the request
            await self._store.set_print_state(record.id, PrintState.FAILED, f"cannot lay out the receipt: {exc}")
            return
        self._submit(record, draft, copy=copy)

    def _submit(self, record: InvoiceRecord, draft: InvoiceDraft, *, copy: bool) -> None:
        from ..printing.receipt_layout import layout, receipt_from_invoice

        try:
            invoice = self._issuer.invoice_for(draft, record.number, record.created_at)
            data = receipt_from_invoice(
                invoice, kod1_url=record.kod1_url, kod2_url=record.kod2_url, ksef_number=record.ksef_number, copy=copy
            )
            blocks = layout(data, self._cfg.line_columns, codec=self._cfg.python_codec)
        except Exception as exc:  # noqa: BLE001 - the invoice is stored; only the receipt failed
            log.exception("receipt %s cannot be laid out", record.number)
            task = asyncio.ensure_future(self._store.set_print_state(record.id, PrintState.FAILED, str(exc)))
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)
            return
        self._queue.submit(str(record.id), blocks, copy=copy)

    async def _on_state(self, invoice_id: str, state: Any, error: str | None) -> None:
        try:
            await self._store.set_print_state(int(invoice_id), PrintState(getattr(state, "value", state)), error)
        except Exception:  # noqa: BLE001
            log.exception("cannot record print state %s for invoice %s", state, invoice_id)
