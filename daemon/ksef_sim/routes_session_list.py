"""GET /sessions (open-api.json `SessionsQueryResponse`): the caller's sessions of one type, newest
first, paged with `x-continuation-token`; filters `referenceNumber`, `dateCreatedFrom/To`,
`dateModifiedFrom/To`, `statuses` (InProgress/Succeeded/Failed/Cancelled as CommonSessionStatus
describes them). `dateClosed*` filters are accepted and applied to dateUpdated of closed sessions."""
from __future__ import annotations

from datetime import datetime

from aiohttp import web

from .clock import parse_iso
from .errors import KsefError, json_response
from .http_util import continuation_offset, continuation_token, require_access, state_of
from .model import Session
from .processing import session_counts
from .state import SimState

routes = web.RouteTableDef()
KINDS = {"Online": "online", "Batch": "batch"}


def common_status(session: Session) -> str:
    """CommonSessionStatus: Cancelled = 440; Failed = other errors; Succeeded = 200; else InProgress."""
    code = session.status_code
    if code == 200:
        return "Succeeded"
    if code == 440:
        return "Cancelled"
    if code >= 400:
        return "Failed"
    return "InProgress"


def _date(request: web.Request, name: str) -> datetime | None:
    text = request.query.get(name)
    if text is None:
        return None
    try:
        return parse_iso(text)
    except ValueError:
        raise KsefError(21405, [f"{name} musi być datą ISO 8601, np. 2026-01-05T10:00:00Z."]) from None


def _matches(request: web.Request, st: SimState, s: Session) -> bool:
    created, updated = parse_iso(s.date_created), parse_iso(s.date_updated)
    closed = updated if s.status_code not in (100, 150) else None
    for name, value in (("dateCreated", created), ("dateModified", updated), ("dateClosed", closed)):
        low, high = _date(request, name + "From"), _date(request, name + "To")
        if value is None:
            if low or high:
                return False
            continue
        if (low and value < low) or (high and value > high):
            return False
    ref = request.query.get("referenceNumber")
    statuses = request.query.getall("statuses", [])
    return (not ref or s.reference_number == ref) and (not statuses or common_status(s) in statuses)


@routes.get("/v2/sessions")
async def list_sessions(request: web.Request) -> web.Response:
    st = state_of(request)
    claims = require_access(request)
    kind = KINDS.get(request.query.get("sessionType", ""))
    if kind is None:
        raise KsefError(21405, ["Parametr sessionType jest wymagany: Online albo Batch."])
    size_text = request.query.get("pageSize", "10")
    if not size_text.isdigit() or not 10 <= int(size_text) <= 1000:
        raise KsefError(21405, ["pageSize musi być liczbą od 10 do 1000."])
    for status in request.query.getall("statuses", []):
        if status not in ("InProgress", "Succeeded", "Failed", "Cancelled"):
            raise KsefError(21405, [f"statuses: {status} nie jest jedną z InProgress, Succeeded, Failed, Cancelled."])
    size = int(size_text)
    found = sorted((s for s in st.sessions.values()
                    if s.nip == claims.context_value and s.kind == kind and _matches(request, st, s)),
                   key=lambda s: s.date_created, reverse=True)
    start = continuation_offset(request)
    items = []
    for s in found[start:start + size]:
        total, ok, failed, _ = session_counts(st, s)
        items.append({"referenceNumber": s.reference_number,
                      "status": {"code": s.status_code, "description": s.status_description},
                      "dateCreated": s.date_created, "dateUpdated": s.date_updated, "validUntil": s.valid_until,
                      "totalInvoiceCount": total, "successfulInvoiceCount": ok, "failedInvoiceCount": failed})
    body: dict = {"sessions": items}
    if start + size < len(found):
        body["continuationToken"] = continuation_token(start + size)
    return json_response(body)
