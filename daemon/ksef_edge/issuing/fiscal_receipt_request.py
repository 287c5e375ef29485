"""The `fiscal_receipt` object of `POST /v1/invoices`: the sale already has a receipt from the kasa fiskalna.

Body shape (all fields required)::

    "fiscal_receipt": {"number": "0042", "cash_register": "ABC12345678", "date": "2026-12-07",
                       "buyer_nip_on_receipt": true}

The date-dependent rules (receipt not after the invoice, not older than art. 106b ust. 3 allows)
are the domain's (`domain.fiscal_receipt.check_fiscal_receipt`), checked against the issue date the
service assigns; the NIP rule (art. 106b ust. 5) is checked here already, so the till gets its own
code for the case a cashier meets most.
"""
from __future__ import annotations

import datetime as dt
import re
from typing import Any

from ..domain.errors import InvoiceError
from ..domain.fiscal_receipt import FiscalReceipt
from .errors import InvalidRequestError, MalformedRequestError

FIELD = "fiscal_receipt"
_KEYS = {"number", "cash_register", "date", "buyer_nip_on_receipt"}


def parse_fiscal_receipt(value: Any, *, buyer_nip: str | None) -> FiscalReceipt | None:
    """None when the sale has no receipt; else the receipt, or a request error naming the field to fix."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise MalformedRequestError("wrong_type", "must be a JSON object with number, cash_register, date, "
                       "buyer_nip_on_receipt", FIELD)
    for key in value:
        if key not in _KEYS:
            raise MalformedRequestError("unknown_field", f"unknown field {key!r}; allowed: {', '.join(sorted(_KEYS))}",
                           f"{FIELD}.{key}")
    for key in sorted(_KEYS):
        if value.get(key) is None:
            raise MalformedRequestError("missing_field", f"{key!r} is required", f"{FIELD}.{key}")
    for key in ("number", "cash_register", "date"):
        if not isinstance(value[key], str):
            raise MalformedRequestError("wrong_type", "must be a string", f"{FIELD}.{key}")
    flag = value["buyer_nip_on_receipt"]
    if not isinstance(flag, bool):
        raise MalformedRequestError("wrong_type", "must be true or false", f"{FIELD}.buyer_nip_on_receipt")
    raw_date = value["date"]
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", raw_date):
        raise MalformedRequestError("wrong_type", "must be a date string YYYY-MM-DD", f"{FIELD}.date")
    try:
        date = dt.date.fromisoformat(raw_date)
    except ValueError:
        raise InvalidRequestError("invalid_date", f"{raw_date!r} is not a calendar date", f"{FIELD}.date") from None
    try:
        receipt = FiscalReceipt(
            number=value["number"], cash_register=value["cash_register"], date=date, buyer_nip_on_receipt=flag
        )
    except InvoiceError as exc:
        raise InvalidRequestError("invalid_fiscal_receipt", exc.message, exc.field) from None
    if buyer_nip and not flag:
        raise InvalidRequestError("nip_not_on_receipt",
            "the buyer's NIP was not printed on this receipt: by art. 106b ust. 5 of the VAT act an invoice with a NIP "
            "cannot be issued to it; issue it without buyer.nip (consumer) or refuse",
            f"{FIELD}.buyer_nip_on_receipt",
        )
    return receipt
