"""Online (interactive) session (protocol.md §4.2–4.4): open, send invoice, close."""
from __future__ import annotations

import base64

from aiohttp import web

from . import refnums
from .clock import parse_iso
from .crypto import DecryptionError, aes_cbc_decrypt, sha256_b64
from .errors import KsefError, json_response
from .http_util import b64_field, field, json_body, require_access, state_of
from .invoice_checks import INVOICE_STATUS
from .keys import SYMMETRIC_USAGE, UnknownKeyError
from .model import InvoiceRecord, Session
from .processing import maybe_finish_online, process_online_invoice, set_session_status
from .state import SimState
from .tokens import Claims

routes = web.RouteTableDef()
FORM_CODE = {"systemCode": "FA (3)", "schemaVersion": "1-0E", "value": "FA"}


def check_form_code(body: dict) -> None:
    form = field(body, "formCode", dict)
    if {k: form.get(k) for k in FORM_CODE} != FORM_CODE:
        raise KsefError(21405, [f"formCode {form} nie jest obsługiwany; simulator przyjmuje {FORM_CODE}"
                                " (uwaga na spację w 'FA (3)')."])


def unwrap_key(st: SimState, body: dict) -> tuple[str | None, str]:
    """(AES key Base64 or None when it does not decrypt, IV Base64); 21470 for an unknown key id."""
    wrapped = b64_field(body, "encryption.encryptedSymmetricKey")
    iv = b64_field(body, "encryption.initializationVector", length=16)
    key_id = field(body, "encryption.publicKeyId", str, required=False)
    try:
        key = st.keys.decrypt(SYMMETRIC_USAGE, wrapped, key_id)
    except UnknownKeyError:
        raise KsefError(21470, [f"Klucz o identyfikatorze {key_id} nie jest wspierany."]) from None
    except ValueError:
        key = None
    if key is not None and len(key) != 32:
        key = None
    return (base64.b64encode(key).decode() if key else None), base64.b64encode(iv).decode()


def session_of(st: SimState, claims: Claims, reference: str, kind: str | None = None) -> Session:
    session = st.sessions.get(reference)
    if session is None or session.nip != claims.context_value or (kind and session.kind != kind):
        raise KsefError(21173, [f"Sesja o numerze referencyjnym {reference} nie została odnaleziona."])
    return session


def token_reference(st: SimState, claims: Claims) -> str:
    op = st.auth_ops.get(claims.operation_reference)
    return (op.token_reference if op and op.token_reference else claims.operation_reference)


@routes.post("/v2/sessions/online")
async def open_online(request: web.Request) -> web.Response:
    st = state_of(request)
    claims = require_access(request)
    body = await json_body(request)
    check_form_code(body)
    key_b64, iv_b64 = unwrap_key(st, body)
    now = st.now()
    session = Session(refnums.new_reference(refnums.ONLINE_SESSION, now), "online", claims.context_value,
                      token_reference(st, claims), st.now_iso(), st.now_iso(),
                      st.later_iso(st.config.online_session_ttl_s), key_b64, iv_b64)
    set_session_status(st, session, 100 if key_b64 else 415)
    st.sessions[session.reference_number] = session
    st.save(session)
    return json_response({"referenceNumber": session.reference_number, "validUntil": session.valid_until}, 201)


@routes.post("/v2/sessions/online/{referenceNumber}/invoices")
async def send_invoice(request: web.Request) -> web.Response:
    st = state_of(request)
    claims = require_access(request)
    session = session_of(st, claims, request.match_info["referenceNumber"], "online")
    body = await json_body(request)
    invoice_hash = field(body, "invoiceHash", str)
    invoice_size = field(body, "invoiceSize", int)
    enc_hash = field(body, "encryptedInvoiceHash", str)
    enc_size = field(body, "encryptedInvoiceSize", int)
    content = b64_field(body, "encryptedInvoiceContent")
    offline = field(body, "offlineMode", bool, required=False) or False
    corrected = field(body, "hashOfCorrectedInvoice", str, required=False)
    for name, value in (("invoiceHash", invoice_hash), ("encryptedInvoiceHash", enc_hash),
                        ("hashOfCorrectedInvoice", corrected)):
        if value is not None and len(value) != 44:
            raise KsefError(21405, [f"Pole '{name}' musi być skrótem SHA-256 w Base64 (44 znaki)."])
    if st.clock.time() >= _ts(session.valid_until) and session.status_code == 100:
        set_session_status(st, session, 170)
        maybe_finish_online(st, session)
    if session.status_code != 100:
        raise KsefError(21180, [f"Status sesji {session.status_code} uniemożliwia wysyłkę faktur."])
    if len(st.session_invoices.get(session.reference_number, [])) >= st.config.session_invoices_max:
        raise KsefError(21155, [f"Sesja o numerze referencyjnym {session.reference_number} osiągnęła dozwolony"
                                f" limit liczby faktur {st.config.session_invoices_max}."])
    if enc_size != len(content):
        raise KsefError(21402, ["Długość treści nie zgadza się z rozmiarem pliku (encryptedInvoiceSize)."])
    if enc_hash != sha256_b64(content):
        raise KsefError(21403, ["Skrót treści nie zgadza się ze skrótem pliku (encryptedInvoiceHash)."])
    try:
        plain = aes_cbc_decrypt(base64.b64decode(session.aes_key_b64 or ""), base64.b64decode(session.iv_b64), content)
    except DecryptionError:
        plain = None
    if plain is not None:
        if invoice_size != len(plain):
            raise KsefError(21402, [f"Długość treści nie zgadza się z rozmiarem pliku: invoiceSize {invoice_size},"
                                    f" odszyfrowano {len(plain)} bajtów."])
        if invoice_hash != sha256_b64(plain):
            raise KsefError(21403, ["Skrót treści nie zgadza się ze skrótem pliku (invoiceHash)."])
        if len(plain) > st.config.invoice_bytes_max and corrected is None:
            raise KsefError(21405, [f"Faktura ma {len(plain)} bajtów; limit to {st.config.invoice_bytes_max}."])
    if corrected is not None:
        _check_technical_correction(st, session, corrected, offline)
    ordinal = len(st.session_invoices.get(session.reference_number, [])) + 1
    inv = InvoiceRecord(refnums.new_reference(refnums.INVOICE, st.now()), session.reference_number, ordinal,
                        invoice_hash, st.now_iso(), offline, 100, INVOICE_STATUS[100],
                        xml_b64=base64.b64encode(plain).decode() if plain is not None else None,
                        hash_of_corrected=corrected)
    if plain is None:
        inv.status_code, inv.status_description = 435, INVOICE_STATUS[435]
        inv.details = ["Nie można odszyfrować pliku kluczem i wektorem IV sesji."]
    st.index_invoice(inv)
    session.invoice_count = ordinal
    st.save(inv)
    st.save(session)
    if plain is not None:
        st.spawn(process_online_invoice(st, inv.reference_number))
    return json_response({"referenceNumber": inv.reference_number}, 202)


def _ts(text: str) -> float:
    return parse_iso(text).timestamp()


def _check_technical_correction(st: SimState, session: Session, corrected: str, offline: bool) -> None:
    if not offline:
        raise KsefError(21405, ["Korekta techniczna dotyczy faktur offline: wyślij ją z offlineMode: true."])
    earlier = [st.invoices[r] for r in st.by_hash.get(corrected, [])]
    earlier = [i for i in earlier if st.sessions[i.session_reference].nip == session.nip]
    if any(i.status_code == 200 for i in earlier):
        raise KsefError(21167, ["Nie można wysłać korekty technicznej do prawidłowo przetworzonej faktury."])
    for inv in st.invoices.values():
        if inv.hash_of_corrected == corrected and inv.status_code in (100, 150, 200):
            raise KsefError(21166, ["Faktura posiada już przetworzoną prawidłowo korektę techniczną."])


@routes.post("/v2/sessions/online/{referenceNumber}/close")
async def close_online(request: web.Request) -> web.Response:
    st = state_of(request)
    claims = require_access(request)
    session = session_of(st, claims, request.match_info["referenceNumber"], "online")
    if session.status_code != 100:
        raise KsefError(21180, [f"Status sesji {session.status_code} uniemożliwia jej zamknięcie."])
    set_session_status(st, session, 170)
    maybe_finish_online(st, session)
    return web.Response(status=204)

