"""Receipts: lay out an issued invoice and hand it to `printing.PrintQueue`; mirror its state into the store.

Issuance never waits for the printer: the receipt is queued after the commit. Every receipt
(first print, reprint, or one left unprinted by a restart) is laid out from the stored XML bytes
and QR links (`printing.fa3_receipt`), so it shows exactly what was signed and needs no memory.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import functools
import logging
from typing import Any

from ..printing import PrinterConfig
from ..printing.receipt_layout import Block
from ..store import InvoiceRecord, OutboxStore, PrintState
from .technical_corrections import technical_correction_of

log = logging.getLogger(__name__)

BACKLOG_MAX_AGE = dt.timedelta(hours=1)  # an older unprinted receipt: the customer has left
BACKLOG_MAX = 50


@functools.cache
def preview_default() -> PrinterConfig:
    """80 mm, Epson-compatible: for previews on a device without a printer. Made on first use: checking
    a PrinterConfig loads python-escpos' printer database (~11 MB), which a device without a printer
    should not carry from start-up."""
    return PrinterConfig()


def printer_config(configured: PrinterConfig | None) -> PrinterConfig:
    """The device's printer settings, or an 80 mm default so a shop without a printer still sees receipts."""
    return configured if configured is not None else preview_default()


async def receipt_blocks(store: OutboxStore, record: InvoiceRecord, cfg: PrinterConfig, *, copy: bool = False) -> list[Block]:
    """The one receipt layout of a stored invoice or correction: what the printer gets, the PNG and .bin show.

    Laid out from the stored XML bytes and QR links only, so the same row always gives the same
    bytes. The first print (`copy=False`) is the receipt handed over at issue: KOD I labelled OFFLINE.
    A copy (`copy=True`, a reprint now) is marked as such and carries the KSeF number once known; of a
    technically corrected invoice it lays out the corrected document KSeF holds (its bytes, its KOD I /
    KOD II, its KSeF number under KOD I), since the original's links no longer verify in KSeF.
    Raises `printing.fa3_receipt.Fa3ReadError` / `UnprintableTextError` (ValueError) if it cannot.
    """
    from ..printing.fa3_receipt import stored_receipt_blocks  # lxml/escpos only when printing

    corrected = await technical_correction_of(store, record) if copy else None
    if corrected is not None:
        return stored_receipt_blocks(corrected.xml, cfg, kod1_url=corrected.kod1_url, kod2_url=corrected.kod2_url,
                                     ksef_number=corrected.ksef_number, copy=True)
    xml = record.xml if record.xml is not None else await store.get_xml(record.id)
    return stored_receipt_blocks(xml, cfg, kod1_url=record.kod1_url, kod2_url=record.kod2_url,
                                 ksef_number=record.ksef_number if copy else None, copy=copy)


class ReceiptPrinter:
    def __init__(self, printer_config: Any, store: OutboxStore, registry: Any = None) -> None:
        from ..printing.print_queue import PrintQueue
        from ..printing.printer_watch import PrinterWatch

        self._cfg = printer_config
        self._store = store
        self.watch = PrinterWatch(printer_config, registry)  # real-time status, fault metrics, failed receipts
        self._queue = PrintQueue(printer_config, on_state=self._on_state, send=self.watch.sender)
        self._tasks: set[asyncio.Task[Any]] = set()

    async def start(self, now: dt.datetime) -> None:
        self._queue.start()
        self.watch.start(self._queue)
        for record in await self._store.list_print_backlog(now - BACKLOG_MAX_AGE, BACKLOG_MAX):
            await self.reprint(record, copy=False)

    async def close(self) -> None:
        for task in list(self._tasks):
            await asyncio.gather(task, return_exceptions=True)
        await self._queue.stop()
        await self.watch.stop()

    @property
    def queue(self) -> Any:
        """The `printing.PrintQueue` (read by /metrics: `printing.metrics.PrinterCollector`)."""
        return self._queue

    @property
    def state(self) -> str:
        if self._queue.printer_error:
            return f"error: {self._queue.printer_error}"
        return "ok" if not self._queue.depth else f"printing ({self._queue.depth} queued)"

    def on_issued(self, record: InvoiceRecord, draft: Any) -> None:
        task = asyncio.ensure_future(self.reprint(record, copy=False))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def reprint(self, record: InvoiceRecord, *, copy: bool = True) -> None:
        """Lay the receipt out from the stored XML bytes (what was signed) and queue it."""
        try:
            blocks = await receipt_blocks(self._store, record, self._cfg, copy=copy)
        except Exception as exc:  # the invoice is stored; only its receipt failed
            log.exception("receipt %s cannot be laid out", record.number)
            self.watch.receipt_failed()
            await self._store.set_print_state(record.id, PrintState.FAILED, f"cannot lay out the receipt: {exc}")
            return
        self._queue.submit(record.id, blocks, copy=copy)

    def print_blocks(self, job_id: str, blocks: list[Block]) -> None:
        """Queue a non-invoice print (the day report, `reports.day_print`); its state is not stored."""
        self._queue.submit(job_id, blocks)

    async def _on_state(self, invoice_id: Any, state: Any, error: str | None) -> None:
        if not isinstance(invoice_id, int):  # a report, not an outbox row
            return
        if getattr(state, "value", state) == PrintState.FAILED.value:
            self.watch.receipt_failed()
        try:
            await self._store.set_print_state(int(invoice_id), PrintState(getattr(state, "value", state)), error)
        except Exception:
            log.exception("cannot record print state %s for invoice %s", state, invoice_id)
