"""The receipt of a stored invoice, laid out exactly as `api.receipts.ReceiptPrinter` lays it out.

Same inputs (stored POS request, number, creation time, QR links) give the same blocks, so the PNG
preview and the ESC/POS bytes served here match what was sent to the printer for the first print.
"""
from __future__ import annotations

import json
from typing import Any

from ..api.invoice_request import parse_invoice_request
from ..api.issuer import InvoiceIssuer
from ..printing import PrinterConfig
from ..printing.receipt_layout import Block, layout, receipt_from_invoice
from ..store import InvoiceRecord, OutboxStore

PREVIEW_DEFAULT = PrinterConfig()  # 80 mm, Epson-compatible: used when the device has no printer


def printer_config(configured: Any) -> PrinterConfig:
    """The device's printer settings, or an 80 mm default so a shop without a printer still sees receipts."""
    return configured if isinstance(configured, PrinterConfig) else PREVIEW_DEFAULT


async def receipt_blocks(
    store: OutboxStore, issuer: InvoiceIssuer, record: InvoiceRecord, cfg: PrinterConfig, *, copy: bool = False
) -> list[Block]:
    """Blocks of the receipt; `copy=True` is what a reprint prints now (marked copy, with the KSeF number)."""
    draft = parse_invoice_request(json.loads(await store.get_request_json(record.id)))
    invoice = issuer.invoice_for(draft, record.number, record.created_at)
    data = receipt_from_invoice(
        invoice,
        kod1_url=record.kod1_url,
        kod2_url=record.kod2_url,
        ksef_number=record.ksef_number if copy else None,
        copy=copy,
    )
    return layout(data, cfg.line_columns, codec=cfg.python_codec)
