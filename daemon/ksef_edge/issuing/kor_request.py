"""`POST /v1/invoices/{id}/corrections` body <-> `CorrectionRequest`, and its stored JSON form.

Body (JSON; amounts as strings or integers, never fractional JSON numbers):
    {"reason": "Zwrot towaru", "refund_method": "cash", "refunded": true,
     "changes": [{"line_no": 1, "returned_quantity": "1"}, {"line_no": 2, "new_unit_price": "3.99"}]}
or  {"reason": "Zwrot towaru", "refund_method": "card", "full_return": true}
optional "effect": 1 | 2 | 3 (FA(3) TypKorekty). Errors are `InvoiceError` with the same field
paths `build_correction` uses (`changes[0].returned_quantity`), so the API maps both alike to 4xx.

The store keeps `request_to_json(request)` of each issued correction: later corrections of the same
original fold them (`build_correction(..., prior=[request_from_json(t) for t in stored])`).
"""
from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from ..domain.errors import InvoiceError
from ..domain.invoice import PaymentMethod
from ..domain.kor import CorrectionEffect, CorrectionRequest, LineChange
from ..domain.plain_decimal import plain_decimal

_TOP_KEYS = {"reason", "refund_method", "refunded", "changes", "full_return", "effect"}
_CHANGE_KEYS = {"line_no", "returned_quantity", "new_unit_price"}
CHANGES_MAX = 10_000


def _amount(value: Any, field: str) -> Decimal | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise InvoiceError(field, f"must be a decimal string such as \"1.5\" or an integer, got {type(value).__name__}")
    amount = plain_decimal(str(value), int_digits=8, frac_digits=8)  # ASCII digits only, no spaces or signs
    if amount is None:
        raise InvoiceError(field, f"{str(value)[:40]!r} is not a plain decimal like \"1.5\" (ASCII digits, a dot, "
                                  "at most 8 digits before and after it)")
    return amount


def _unknown_keys(obj: dict, allowed: set[str], where: str) -> None:
    extra = sorted(set(obj) - allowed)
    if extra:
        raise InvoiceError(f"{where}{extra[0]}" if where else extra[0],
                           f"unknown key; allowed: {', '.join(sorted(allowed))}")


def request_from_body(body: Any) -> CorrectionRequest:
    """Parsed JSON -> CorrectionRequest (shape only; `build_correction` checks it against the original)."""
    if not isinstance(body, dict):
        raise InvoiceError("body", "must be a JSON object")
    _unknown_keys(body, _TOP_KEYS, "")
    for key in ("refunded", "full_return"):
        if key in body and not isinstance(body[key], bool):
            raise InvoiceError(key, "must be true or false")
    method = body.get("refund_method")
    if not isinstance(method, str):
        raise InvoiceError("refund_method", "is required: one of cash, card, transfer")
    try:
        refund = PaymentMethod(method.strip().lower())
    except ValueError:
        raise InvoiceError("refund_method", f"{method!r} is not one of cash, card, transfer") from None
    effect = None
    if body.get("effect") is not None:
        if isinstance(body["effect"], bool) or not isinstance(body["effect"], (int, str)):
            raise InvoiceError("effect", "must be 1, 2 or 3 (TypKorekty)")
        effect = CorrectionEffect.parse(body["effect"])
    raw_changes = body.get("changes", [])
    if not isinstance(raw_changes, list):
        raise InvoiceError("changes", "must be a list of {line_no, returned_quantity and/or new_unit_price}")
    if len(raw_changes) > CHANGES_MAX:
        raise InvoiceError("changes", f"has {len(raw_changes)} entries; at most {CHANGES_MAX}")
    changes = []
    for i, raw in enumerate(raw_changes):
        where = f"changes[{i}]"
        if not isinstance(raw, dict):
            raise InvoiceError(where, "must be an object {line_no, returned_quantity and/or new_unit_price}")
        _unknown_keys(raw, _CHANGE_KEYS, f"{where}.")
        line_no = raw.get("line_no")
        if isinstance(line_no, bool) or not isinstance(line_no, int):
            raise InvoiceError(f"{where}.line_no", "is required: the original's line number as printed (1, 2, ...)")
        changes.append(LineChange(
            line_no,
            returned_quantity=_amount(raw.get("returned_quantity"), f"{where}.returned_quantity"),
            new_unit_price=_amount(raw.get("new_unit_price"), f"{where}.new_unit_price"),
        ))
    reason = body.get("reason")
    if not isinstance(reason, str):
        raise InvoiceError("reason", "is required: why the invoice is corrected, e.g. \"Zwrot towaru\"")
    return CorrectionRequest(
        reason=reason, refund_method=refund, changes=tuple(changes), full_return=bool(body.get("full_return", False)),
        refunded=bool(body.get("refunded", True)), effect=effect,
    )


def request_to_json(request: CorrectionRequest) -> str:
    """Canonical stored form of an issued (normalised) request: amounts as strings, sorted keys."""
    def plain(d: Decimal | None) -> str | None:
        return None if d is None else format(d, "f")

    return json.dumps({
        "reason": request.reason,
        "refund_method": PaymentMethod(request.refund_method).value,
        "refunded": request.refunded,
        "full_return": request.full_return,
        "effect": None if request.effect is None else int(CorrectionEffect.parse(request.effect).value),
        "changes": [
            {k: v for k, v in (("line_no", c.line_no), ("returned_quantity", plain(c.returned_quantity)),
                               ("new_unit_price", plain(c.new_unit_price))) if v is not None}
            for c in request.changes
        ],
    }, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def request_from_json(text: str) -> CorrectionRequest:
    return request_from_body(json.loads(text))
