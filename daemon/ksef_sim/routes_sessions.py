"""Session status, invoice lists and statuses, UPO downloads (protocol.md §4.5)."""
from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable

from aiohttp import web

from .environment import receiver_name, signs_upo
from .errors import KsefError, json_response
from .http_util import continuation_offset, continuation_token, require_access, state_of
from .model import InvoiceRecord, Session
from .processing import session_counts
from .routes_online import session_of
from .state import SimState
from .upo import UpoDocument, build_upo

routes = web.RouteTableDef()


def origin(request: web.Request) -> str:
    return f"{request.scheme}://{request.host}"


@routes.get("/v2/sessions/{referenceNumber}")
async def session_status(request: web.Request) -> web.Response:
    st = state_of(request)
    session = session_of(st, require_access(request), request.match_info["referenceNumber"])
    total, ok, failed, _ = session_counts(st, session)
    body: dict = {
        "status": {"code": session.status_code, "description": session.status_description,
                   **({"details": session.status_details} if session.status_details else {})},
        "dateCreated": session.date_created, "dateUpdated": session.date_updated,
        "validUntil": session.valid_until,
        "invoiceCount": total, "successfulInvoiceCount": ok, "failedInvoiceCount": failed,
    }
    if session.upo_reference:
        url, expires = st.presign(f"/storage/upo/{session.reference_number}/{session.upo_reference}",
                                  st.config.upo_url_ttl_s)
        body["upo"] = {"pages": [{"referenceNumber": session.upo_reference, "downloadUrl": origin(request) + url,
                                  "downloadUrlExpirationDate": expires}]}
    return json_response(body)


def invoice_body(request: web.Request, st: SimState, inv: InvoiceRecord) -> dict:
    body: dict = {
        "ordinalNumber": inv.ordinal, "referenceNumber": inv.reference_number,
        "invoiceHash": inv.invoice_hash, "invoicingDate": inv.invoicing_date,
        "status": {"code": inv.status_code, "description": inv.status_description},
    }
    if inv.details:
        body["status"]["details"] = inv.details
    if inv.extensions:
        body["status"]["extensions"] = inv.extensions
    if inv.invoice_number:
        body["invoiceNumber"] = inv.invoice_number
    if inv.file_name:
        body["invoiceFileName"] = inv.file_name
    if inv.status_code == 200:
        url, expires = st.presign(f"/storage/upo/{inv.session_reference}/invoice/{inv.ksef_number}",
                                  st.config.upo_url_ttl_s)
        body.update({"ksefNumber": inv.ksef_number, "acquisitionDate": inv.acquisition_date,
                     "permanentStorageDate": inv.permanent_storage_date, "invoicingMode": inv.invoicing_mode,
                     "upoDownloadUrl": origin(request) + url, "upoDownloadUrlExpirationDate": expires})
    return body


def _page(request: web.Request, st: SimState, session: Session, failed_only: bool) -> web.Response:
    size_text = request.query.get("pageSize", "10")
    if not size_text.isdigit() or not 10 <= int(size_text) <= 1000:
        raise KsefError(21405, ["pageSize musi być liczbą od 10 do 1000."])
    size = int(size_text)
    refs = st.session_invoices.get(session.reference_number, [])
    items = [st.invoices[r] for r in refs]
    if failed_only:
        items = [i for i in items if i.status_code not in (100, 150, 200)]
    start = continuation_offset(request)
    chunk = items[start:start + size]
    body: dict = {"invoices": [invoice_body(request, st, i) for i in chunk]}
    if start + size < len(items):
        body["continuationToken"] = continuation_token(start + size)
    return json_response(body)


@routes.get("/v2/sessions/{referenceNumber}/invoices")
async def session_invoices(request: web.Request) -> web.Response:
    st = state_of(request)
    session = session_of(st, require_access(request), request.match_info["referenceNumber"])
    return _page(request, st, session, failed_only=False)


@routes.get("/v2/sessions/{referenceNumber}/invoices/failed")
async def session_failed_invoices(request: web.Request) -> web.Response:
    st = state_of(request)
    session = session_of(st, require_access(request), request.match_info["referenceNumber"])
    return _page(request, st, session, failed_only=True)


def _invoice_in(st: SimState, session: Session, ref: str) -> InvoiceRecord:
    inv = st.invoices.get(ref)
    if inv is None or inv.session_reference != session.reference_number:
        raise KsefError(21405, [f"Faktura o numerze referencyjnym {ref} nie istnieje w sesji"
                                f" {session.reference_number}."])
    return inv


@routes.get("/v2/sessions/{referenceNumber}/invoices/{invoiceReferenceNumber}")
async def invoice_status(request: web.Request) -> web.Response:
    st = state_of(request)
    session = session_of(st, require_access(request), request.match_info["referenceNumber"])
    inv = _invoice_in(st, session, request.match_info["invoiceReferenceNumber"])
    return json_response(invoice_body(request, st, inv))


# --- UPO -------------------------------------------------------------------------------------------

def upo_document(inv: InvoiceRecord) -> UpoDocument:
    return UpoDocument(inv.seller_nip or "", inv.ksef_number or "", inv.invoice_number or "",
                       inv.issue_date or "", inv.invoicing_date, inv.acquisition_date or "",
                       inv.invoice_hash, inv.invoicing_mode or "Online")


def invoice_upo(st: SimState, session: Session, inv: InvoiceRecord) -> bytes:
    if inv.status_code != 200:
        raise KsefError(21405, [f"UPO dla faktury {inv.reference_number} nie jest dostępne:"
                                f" status faktury {inv.status_code}."])
    return _issued(st, f"upo/{session.reference_number}/invoice/{inv.ksef_number}", lambda: build_upo(
        session.reference_number, session.nip, session.token_reference, [upo_document(inv)],
        **_upo_kwargs(st, session)))


def session_upo(st: SimState, session: Session, upo_reference: str) -> bytes:
    if session.upo_reference != upo_reference:
        raise KsefError(21405, [f"UPO {upo_reference} nie istnieje dla sesji {session.reference_number}"
                                " (UPO sesji powstaje po jej zamknięciu i przetworzeniu)."])
    docs = [upo_document(st.invoices[r]) for r in st.session_invoices.get(session.reference_number, [])
            if st.invoices[r].status_code == 200]
    return _issued(st, f"upo/{session.reference_number}/{upo_reference}", lambda: build_upo(
        session.reference_number, session.nip, session.token_reference, docs, page=(1, 1),
        **_upo_kwargs(st, session)))


def _upo_kwargs(st: SimState, session: Session) -> dict:
    env = st.config.environment
    op = st.auth_ops.get(session.token_reference)
    return {"receiver": receiver_name(env) if env != "sim" else receiver_name("prod"),
            "auth_document_hash": op.auth_document_hash if op is not None else None}


def _issued(st: SimState, name: str, build: Callable[[], bytes]) -> bytes:
    """A UPO is issued once: built, signed as the played environment does (enveloped XAdES; `sim`
    leaves it unsigned) and kept, so every download returns the same bytes and x-ms-meta-hash."""
    data = st.store.get_blob(name)
    if data is None:
        data = build()
        if signs_upo(st.config.environment):
            data = st.upo_signer.sign(data)
        st.store.put_blob(name, data)
    return data


def xml_response(data: bytes) -> web.Response:
    digest = base64.b64encode(hashlib.sha256(data).digest()).decode()
    return web.Response(body=data, content_type="application/xml", charset="utf-8",
                        headers={"x-ms-meta-hash": digest})


@routes.get("/v2/sessions/{referenceNumber}/invoices/{invoiceReferenceNumber}/upo")
async def invoice_upo_by_ref(request: web.Request) -> web.Response:
    st = state_of(request)
    session = session_of(st, require_access(request), request.match_info["referenceNumber"])
    inv = _invoice_in(st, session, request.match_info["invoiceReferenceNumber"])
    return xml_response(invoice_upo(st, session, inv))


@routes.get("/v2/sessions/{referenceNumber}/invoices/ksef/{ksefNumber}/upo")
async def invoice_upo_by_ksef_number(request: web.Request) -> web.Response:
    st = state_of(request)
    session = session_of(st, require_access(request), request.match_info["referenceNumber"])
    ref = st.by_ksef_number.get(request.match_info["ksefNumber"])
    if ref is None:
        raise KsefError(21405, [f"Faktura o numerze KSeF {request.match_info['ksefNumber']} nie istnieje."])
    return xml_response(invoice_upo(st, session, _invoice_in(st, session, ref)))


@routes.get("/v2/sessions/{referenceNumber}/upo/{upoReferenceNumber}")
async def session_upo_download(request: web.Request) -> web.Response:
    st = state_of(request)
    session = session_of(st, require_access(request), request.match_info["referenceNumber"])
    return xml_response(session_upo(st, session, request.match_info["upoReferenceNumber"]))
