"""Batch session (protocol.md §4.6): open with part metadata, pre-signed part uploads, close."""
from __future__ import annotations

from aiohttp import web

from . import refnums
from .clock import parse_iso
from .errors import KsefError, json_response
from .http_util import field, json_body, require_access, state_of
from .model import Session
from .processing import process_batch, set_session_status
from .routes_online import check_form_code, session_of, token_reference, unwrap_key
from .routes_sessions import origin

routes = web.RouteTableDef()
PART_UPLOAD_TTL_PER_PART_S = 20 * 60   # "20 min × number of parts"


@routes.post("/v2/sessions/batch")
async def open_batch(request: web.Request) -> web.Response:
    st = state_of(request)
    claims = require_access(request)
    body = await json_body(request)
    check_form_code(body)
    batch = field(body, "batchFile", dict)
    file_size = field(body, "batchFile.fileSize", int)
    field(body, "batchFile.fileHash", str)
    parts = field(body, "batchFile.fileParts", list)
    compression = field(body, "batchFile.compressionType", str, required=False) or "Zip"
    if compression != "Zip":
        raise KsefError(21405, [f"compressionType {compression}: simulator obsługuje tylko Zip."])
    if not 1 <= file_size <= 5_000_000_000:
        raise KsefError(21405, ["batchFile.fileSize musi być z zakresu 1..5 000 000 000 bajtów."])
    if not 1 <= len(parts) <= st.config.batch_parts_max:
        raise KsefError(21161, [f"Paczka może mieć od 1 do {st.config.batch_parts_max} części, podano {len(parts)}."])
    ordinals = sorted(p.get("ordinalNumber") for p in parts if isinstance(p, dict) and isinstance(p.get("ordinalNumber"), int))
    if ordinals != list(range(1, len(parts) + 1)):
        raise KsefError(21405, ["fileParts[].ordinalNumber muszą być kolejnymi liczbami od 1."])
    for p in parts:
        if not isinstance(p.get("fileSize"), int) or not isinstance(p.get("fileHash"), str):
            raise KsefError(21405, ["fileParts[] wymaga fileSize (liczba) i fileHash (Base64 SHA-256)."])
        if not 1 <= p["fileSize"] <= st.config.batch_part_bytes_max + 16:
            raise KsefError(21157, [f"Część {p['ordinalNumber']} ma rozmiar {p['fileSize']};"
                                    " limit to 100 MB przed szyfrowaniem."])
    offline = field(body, "offlineMode", bool, required=False) or False
    key_b64, iv_b64 = unwrap_key(st, body)
    now = st.now()
    session = Session(refnums.new_reference(refnums.BATCH_SESSION, now), "batch", claims.context_value,
                      token_reference(st, claims), st.now_iso(), st.now_iso(),
                      st.later_iso(PART_UPLOAD_TTL_PER_PART_S * len(parts)), key_b64, iv_b64,
                      offline_mode=offline, batch_file=batch)
    set_session_status(st, session, 100 if key_b64 else 415)
    st.sessions[session.reference_number] = session
    st.save(session)
    uploads = []
    for n in range(1, len(parts) + 1):
        url, _ = st.presign(f"/storage/batch/{session.reference_number}/{n}", PART_UPLOAD_TTL_PER_PART_S * len(parts))
        uploads.append({"ordinalNumber": n, "method": "PUT", "url": origin(request) + url,
                        "headers": {"x-ms-blob-type": "BlockBlob"}})
    return json_response({"referenceNumber": session.reference_number, "partUploadRequests": uploads}, 201)


@routes.post("/v2/sessions/batch/{referenceNumber}/close")
async def close_batch(request: web.Request) -> web.Response:
    st = state_of(request)
    session = session_of(st, require_access(request), request.match_info["referenceNumber"], "batch")
    if session.status_code != 100:
        raise KsefError(21180, [f"Status sesji {session.status_code} uniemożliwia jej zamknięcie."])
    if st.clock.time() > parse_iso(session.valid_until).timestamp():
        set_session_status(st, session, 440, ["Przekroczono czas wysyłki"])
        raise KsefError(21208, ["Sesja anulowana, przekroczony czas wysyłki."])
    for part in (session.batch_file or {}).get("fileParts", []):
        n = part["ordinalNumber"]
        if n not in session.parts_uploaded:
            raise KsefError(21205, [f"Nie przesłano zadeklarowanej '{n}' części pliku."])
        blob = st.store.get_blob(f"{session.reference_number}/{n}") or b""
        if len(blob) != part["fileSize"]:
            raise KsefError(21157, [f"Zadeklarowany rozmiar części '{n}' nie zgadza się z rzeczywistym."])
    set_session_status(st, session, 150)
    st.spawn(process_batch(st, session.reference_number))
    return web.Response(status=204)
