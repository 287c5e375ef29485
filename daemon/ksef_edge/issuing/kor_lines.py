"""`GET /v1/invoices/{id}/lines`: an invoice's lines as sold and as they stand after its corrections.

What a till (or the page's "Korekta" form) needs before a return: which line numbers exist and how
much of each can still be returned. Worked out exactly as the correction path does it
(`issuing.kor_issuer.original_invoice` + `domain.kor.current_state` over the earlier
corrections, in issue order), so the numbers shown are the ones a correction will be checked against.
"""
from __future__ import annotations

import asyncio
import dataclasses
from decimal import Decimal
from typing import Any

from ..domain.errors import InvoiceError
from ..domain.kor import current_state
from ..store import InvoiceRecord, OutboxStore
from .errors import RequestError
from .invoice_request import parse_body
from .kor_issuer import CorrectionRefusedError, original_invoice
from .kor_request import request_from_body


def _qty(value: Decimal) -> str:
    return format(value.normalize(), "f")  # "1", "0.254"; never "1E+2"


async def invoice_lines(store: OutboxStore, record: InvoiceRecord) -> dict[str, Any]:
    if record.kind == "KOR":
        raise CorrectionRefusedError(422, "correction_of_correction",
                       f"{record.number} is a correction invoice; read the lines of the original (id {record.corrects_id})", "id")
    xml = await store.get_xml(record.id)
    request_json = await store.get_request_json(record.id)
    prior = []
    for kor in await store.corrections_of(record.id):
        try:
            prior.append(request_from_body(parse_body((await store.get_request_json(kor.id)).encode("utf-8"))))
        except (InvoiceError, RequestError) as exc:  # stored by this API, so it parsed once: the row is damaged
            raise CorrectionRefusedError(409, "original_not_reproducible",
                           f"the stored request of correction {kor.number} no longer reads: {exc}", "id") from None

    def work() -> Any:
        invoice = original_invoice(dataclasses.replace(record, xml=xml), request_json)  # rebuilds the exact bytes
        return invoice, current_state(invoice, prior)

    try:
        invoice, state = await asyncio.get_running_loop().run_in_executor(None, work)
    except InvoiceError as exc:
        raise CorrectionRefusedError(409, "original_not_correctable",
                       f"invoice {record.number} cannot be rebuilt for a correction: {exc.message}", "id") from None
    lines = []
    for no, (line, now) in enumerate(zip(invoice.lines, state), start=1):
        lines.append({
            "line_no": no, "name": line.name, "unit": line.unit, "vat_rate": line.vat_rate.value,
            "quantity": _qty(line.quantity), "unit_price": str(line.unit_price),
            "remaining_quantity": _qty(now.quantity), "current_unit_price": str(now.unit_price),
        })
    return {
        "id": record.id, "number": record.number, "price_kind": invoice.price_kind.value,
        "corrections": len(prior), "returnable": any(s.quantity > 0 for s in state), "lines": lines,
    }
