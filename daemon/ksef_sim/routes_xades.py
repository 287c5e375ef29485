"""POST /auth/xades-signature (protocol.md §2.3): start authentication with a signed AuthTokenRequest.
The checks are in xades_auth.py. ksef-sim has no permission registry: an identity whose NIP is the
context NIP gets status 200; any other identity (PESEL, another NIP, a fingerprint) gets 415
"Brak przypisanych uprawnień" — SIMULATOR ASSUMPTION standing in for KSeF's permission check."""
from __future__ import annotations

from aiohttp import web

from . import refnums
from .errors import KsefError, json_response
from .http_util import state_of
from .model import AuthOperation
from .routes_auth import _issue
from .tokens import OPERATION
from .xades_auth import read_signed_request

routes = web.RouteTableDef()


@routes.post("/v2/auth/xades-signature")
async def xades_signature(request: web.Request) -> web.Response:
    st = state_of(request)
    if request.query.get("verifyCertificateChain", "false").lower() not in ("true", "false"):
        raise KsefError(21405, ["verifyCertificateChain musi mieć wartość true albo false."])
    signed = read_signed_request(await request.read(), st.now())
    ch = st.challenges.get(signed.challenge)
    if ch is None or ch.used or st.clock.time() * 1000 - ch.timestamp_ms > st.config.challenge_ttl_s * 1000:
        raise KsefError(21111, [f"Wyzwanie {signed.challenge} nie istnieje, wygasło lub zostało już użyte;"
                                " pobierz nowe przez POST /auth/challenge."])
    if signed.context_type != "Nip" or not (signed.context_value.isdigit() and len(signed.context_value) == 10):
        raise KsefError(21117, [f"ksef-sim obsługuje tylko kontekst Nip (10 cyfr); otrzymano"
                                f" {signed.context_type} {signed.context_value}."])
    ch.used = True
    st.save(ch)
    if signed.identity == ("Nip", signed.context_value):
        code, description, details = 200, "Uwierzytelnianie zakończone sukcesem", []
    else:
        code, description = 415, "Uwierzytelnianie zakończone niepowodzeniem"
        details = ["Brak przypisanych uprawnień"]
    now = st.now()
    op = AuthOperation(refnums.new_reference(refnums.AUTH_OPERATION, now), st.now_iso(), signed.context_type,
                       signed.context_value, code, description, details, token_reference=None,
                       method=signed.method, auth_document_hash=signed.document_hash)
    st.auth_ops[op.reference_number] = op
    st.save(op)
    token = _issue(st, OPERATION, op, st.config.operation_token_ttl_s)
    return json_response({"referenceNumber": op.reference_number,
                          "authenticationToken": {"token": token,
                                                  "validUntil": st.later_iso(st.config.operation_token_ttl_s)}}, 202)
