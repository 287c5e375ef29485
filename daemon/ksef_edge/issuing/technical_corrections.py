"""A technically corrected invoice as the API shows it (`ksef-edge correct`, docs/api.md).

KSeF rejected the file signed at the till and later accepted a corrected file in its place. The store
keeps both: the original (what the customer's receipt shows; `GET /v1/invoices/{id}/xml`) and the
correction (`OutboxStore.technical_correction`: its bytes, SHA-256, own KOD I / KOD II, KSeF number).
The invoice JSON shows the correction, `/corrected.xml` serves it, and a reprint lays it out.
"""
from __future__ import annotations

import base64
from typing import Any

from ..store import InvoiceRecord, InvoiceState, OutboxStore, TechnicalCorrection


async def technical_correction_of(store: OutboxStore, record: InvoiceRecord) -> TechnicalCorrection | None:
    """The accepted technical correction of `record`, if any.

    Only an invoice KSeF rejected can have one (`OutboxStore.record_correction` needs `rejected` and
    keeps the row's `reject_code`), so every other invoice skips the query: lists stay one query.
    """
    if record.state not in (InvoiceState.CONFIRMED, InvoiceState.ACCEPTED) or record.reject_code is None:
        return None
    return await store.technical_correction(record.id)


def technical_correction_json(record: InvoiceRecord, tc: TechnicalCorrection) -> dict[str, Any]:
    """`technical_correction` in the invoice JSON: the file KSeF holds instead of the one printed at the till."""
    return {
        "sha256": base64.b64encode(tc.sha256).decode("ascii"),
        "kod1_url": tc.kod1_url,
        "kod2_url": tc.kod2_url,
        "cert_serial": tc.cert_serial,
        "ksef_number": tc.ksef_number,
        "state": record.state.value,  # accepted (UPO still to come) or confirmed
        "upo_available": tc.upo is not None,
        "corrects_rejection": {"code": tc.reject_code or record.reject_code, "reason": record.reject_reason},
        "created_at": tc.created_at.isoformat(),
        "xml": f"/v1/invoices/{record.id}/corrected.xml",
    }
