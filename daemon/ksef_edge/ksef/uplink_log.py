"""What the uplink tells the journal about each invoice, with its fields (`ksef_edge.logfields`).

One function per outcome, so the uplink's code stays one call per event and a fleet can filter
`journalctl STATE=rejected` or `KSEF_NUMBER=...` without parsing messages.
"""
from __future__ import annotations

import logging
from typing import Any

from ..logfields import ALARM, ERROR_CODE, INVOICE_ID, INVOICE_NUMBER, invoice_fields

log = logging.getLogger("ksef_edge.ksef.uplink")


def accepted(rec: Any, ksef_number: str) -> None:
    log.info("invoice %s accepted by KSeF as %s", rec.number, ksef_number,
             extra=invoice_fields(rec, "accepted", ksef_number=ksef_number))


def rejected(rec: Any, code: str, reason: str) -> None:
    log.error("ALARM: KSeF rejected invoice %s (%s: %s); a technical correction is needed", rec.number, code, reason,
              extra={**invoice_fields(rec, "rejected", error_code=code), ALARM: "rejected"})


def confirmed(rec: Any, ksef_number: str) -> None:
    log.info("invoice %s confirmed: UPO stored", rec.number, extra=invoice_fields(rec, "confirmed", ksef_number=ksef_number))


def alarm(level: str, count: int, first: Any) -> None:
    """A new deadline alarm group (at_risk, overdue, rejected); the fields name its earliest invoice."""
    fields = {ALARM: level, INVOICE_ID: str(first.invoice_id), INVOICE_NUMBER: str(first.number)}
    if level != "rejected":
        fields[ERROR_CODE] = f"deadline_{level}"
    log.error("ALARM %s: %d invoice(s), e.g. %s (deadline %s) %s", level, count, first.number, first.deadline,
              first.detail, extra=fields)
