"""`GET /v1/search/invoices` query string -> `store.search.SearchQuery`, or a 400 naming the parameter."""
from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from ..domain.nip import is_valid_nip
from ..store.search import PAGE_MAX, SearchQuery
from .errors import ApiError

STATES = ("issued", "sending", "accepted", "confirmed", "rejected")
TEXT_MAX = 256


def _date(q: Mapping[str, str], name: str) -> dt.date | None:
    raw = q.get(name)
    if not raw:
        return None
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        raise ApiError(400, "invalid_query", f"{name} must be a date YYYY-MM-DD", name) from None


def _amount(q: Mapping[str, str], name: str) -> Decimal | None:
    raw = q.get(name)
    if not raw:
        return None
    text = raw.strip().replace(",", ".")
    if not re.fullmatch(r"-?\d{1,14}(\.\d{1,2})?", text):
        raise ApiError(400, "invalid_query", f"{name} must be an amount such as 123.45", name)
    try:
        return Decimal(text)
    except InvalidOperation:
        raise ApiError(400, "invalid_query", f"{name} must be an amount such as 123.45", name) from None


def _text(q: Mapping[str, str], name: str) -> str | None:
    raw = q.get(name)
    if raw is None or not raw.strip():
        return None
    if len(raw) > TEXT_MAX:
        raise ApiError(400, "invalid_query", f"{name} is longer than {TEXT_MAX} characters", name)
    return raw.strip()


def _int(q: Mapping[str, str], name: str, default: int | None, low: int, high: int) -> int | None:
    raw = q.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise ApiError(400, "invalid_query", f"{name} must be a whole number from {low} to {high}", name)
    return int(raw)


def parse_search_query(q: Mapping[str, Any]) -> SearchQuery:
    nip = _text(q, "nip")
    if nip is not None:
        nip = nip.replace("-", "").replace(" ", "")
        nip = nip[2:] if nip.upper().startswith("PL") else nip
        if not is_valid_nip(nip):
            raise ApiError(400, "invalid_query", "nip must be a valid 10-digit NIP", "nip")
    state = _text(q, "state")
    if state is not None and state not in STATES:
        raise ApiError(400, "invalid_query", f"state must be one of {', '.join(STATES)}", "state")
    exact = _amount(q, "amount")
    low, high = _amount(q, "amount_min"), _amount(q, "amount_max")
    if exact is not None:
        if low is not None or high is not None:
            raise ApiError(400, "invalid_query", "give amount, or amount_min/amount_max, not both", "amount")
        low = high = exact
    date_from, date_to = _date(q, "from"), _date(q, "to")
    if date_from and date_to and date_to < date_from:
        raise ApiError(400, "invalid_query", "to is before from", "to")
    return SearchQuery(
        number=_text(q, "number"), date_from=date_from, date_to=date_to, amount_min=low, amount_max=high,
        buyer_nip=nip, buyer_name=_text(q, "name"), state=state,
        before=_int(q, "before", None, 1, 2**62), limit=_int(q, "limit", 20, 1, PAGE_MAX) or 20,
    )
