"""Public endpoints: MF key certificates, effective rate limits, Latarnia, pre-signed storage URLs."""
from __future__ import annotations

from aiohttp import web

from .errors import json_response
from .http_util import require_access, state_of
from .routes_sessions import invoice_upo, session_upo, xml_response

routes = web.RouteTableDef()


@routes.get("/v2/security/public-key-certificates")
async def public_keys(request: web.Request) -> web.Response:
    return json_response(state_of(request).keys.to_api())


@routes.get("/v2/rate-limits")
async def rate_limits(request: web.Request) -> web.Response:
    require_access(request)
    return json_response(state_of(request).rate_limiter.effective())


@routes.get("/latarnia/status")
async def latarnia_status(request: web.Request) -> web.Response:
    return json_response(state_of(request).latarnia.status_body())


@routes.get("/latarnia/messages")
async def latarnia_messages(request: web.Request) -> web.Response:
    return json_response(state_of(request).latarnia.messages_body())


def _presigned(request: web.Request) -> bool:
    return state_of(request).presigned_ok(request.path, request.query.get("se", ""), request.query.get("sig", ""))


def _storage_error(status: int, message: str) -> web.Response:
    # Azure-blob-like plain error, as KSeF's storage answers pre-signed URL misuse.
    return web.Response(status=status, text=message, content_type="text/plain")


@routes.put("/storage/batch/{session}/{part}")
async def upload_part(request: web.Request) -> web.Response:
    st = state_of(request)
    if not _presigned(request):
        return _storage_error(403, "AuthenticationFailed: the pre-signed URL is invalid or expired.")
    session = st.sessions.get(request.match_info["session"])
    part_text = request.match_info["part"]
    if session is None or not part_text.isdigit():
        return _storage_error(404, "BlobNotFound")
    if session.status_code != 100:
        return _storage_error(409, f"Session status {session.status_code} does not accept part uploads.")
    data = await request.read()
    n = int(part_text)
    st.store.put_blob(f"{session.reference_number}/{n}", data)
    if n not in session.parts_uploaded:
        session.parts_uploaded.append(n)
        st.save(session)
    return web.Response(status=201)


@routes.get("/storage/upo/{session}/invoice/{ksefNumber}")
async def download_invoice_upo(request: web.Request) -> web.Response:
    st = state_of(request)
    if not _presigned(request):
        return _storage_error(403, "AuthenticationFailed: the pre-signed URL is invalid or expired.")
    session = st.sessions.get(request.match_info["session"])
    ref = st.by_ksef_number.get(request.match_info["ksefNumber"])
    if session is None or ref is None:
        return _storage_error(404, "BlobNotFound")
    return xml_response(invoice_upo(st, session, st.invoices[ref]))


@routes.get("/storage/upo/{session}/{upo}")
async def download_session_upo(request: web.Request) -> web.Response:
    st = state_of(request)
    if not _presigned(request):
        return _storage_error(403, "AuthenticationFailed: the pre-signed URL is invalid or expired.")
    session = st.sessions.get(request.match_info["session"])
    if session is None:
        return _storage_error(404, "BlobNotFound")
    return xml_response(session_upo(st, session, request.match_info["upo"]))
