"""Authentication by KSeF token (protocol.md §2): challenge, ksef-token, status, redeem, refresh."""
from __future__ import annotations

from aiohttp import web

from . import refnums
from .errors import KsefError, json_response, unauthorized
from .http_util import b64_field, field, json_body, require, state_of
from .keys import TOKEN_USAGE, UnknownKeyError
from .model import AuthOperation, Challenge
from .routes_auth_sessions import method_info
from .tokens import ACCESS, OPERATION, REFRESH, Claims

routes = web.RouteTableDef()
AUTH_STATUS = {
    100: "Uwierzytelnianie w toku",
    200: "Uwierzytelnianie zakończone sukcesem",
    450: "Uwierzytelnianie zakończone niepowodzeniem z powodu błędnego tokenu",
}


@routes.post("/v2/auth/challenge")
async def challenge(request: web.Request) -> web.Response:
    st = state_of(request)
    now = st.now()
    ch = Challenge(refnums.new_reference(refnums.CHALLENGE, now), int(now.timestamp() * 1000))
    st.challenges[ch.challenge] = ch
    st.save(ch)
    return json_response({"challenge": ch.challenge, "timestamp": st.now_iso(),
                          "timestampMs": ch.timestamp_ms, "clientIp": request.remote or "127.0.0.1"})


@routes.post("/v2/auth/ksef-token")
async def ksef_token(request: web.Request) -> web.Response:
    st = state_of(request)
    body = await json_body(request)
    challenge_text = field(body, "challenge", str)
    ctx_type = field(body, "contextIdentifier.type", str)
    ctx_value = field(body, "contextIdentifier.value", str)
    encrypted = b64_field(body, "encryptedToken")
    public_key_id = field(body, "publicKeyId", str, required=False)
    if ctx_type not in ("Nip", "InternalId", "NipVatUe", "PeppolId"):
        raise KsefError(21405, [f"contextIdentifier.type {ctx_type!r} nie jest obsługiwany."])
    ch = st.challenges.get(challenge_text)
    if ch is None or ch.used:
        raise KsefError(21111, [f"Wyzwanie {challenge_text} nie istnieje lub zostało już użyte;"
                                " pobierz nowe przez POST /auth/challenge."])
    try:
        plain = st.keys.decrypt(TOKEN_USAGE, encrypted, public_key_id).decode("utf-8")
    except UnknownKeyError:
        raise KsefError(21470, [f"Klucz o identyfikatorze {public_key_id} nie jest wspierany."]) from None
    except (ValueError, UnicodeDecodeError):
        plain = None
    ch.used = True
    st.save(ch)
    code, details, token_rec = 200, [], None
    if plain is None or "|" not in plain:
        code, details = 450, ["Nieprawidłowy token"]
    else:
        token, _, stamp = plain.rpartition("|")
        token_rec = st.find_token(token)
        if st.clock.time() * 1000 - ch.timestamp_ms > st.config.challenge_ttl_s * 1000:
            code, details = 450, ["Nieprawidłowe wyzwanie autoryzacyjne"]
        elif stamp != str(ch.timestamp_ms):
            code, details = 450, ["Nieprawidłowy czas tokena"]
        elif token_rec is None or ctx_type != "Nip" or token_rec.nip != ctx_value:
            code, details = 450, ["Nieprawidłowy token"]
    now = st.now()
    op = AuthOperation(refnums.new_reference(refnums.AUTH_OPERATION, now), st.now_iso(), ctx_type, ctx_value,
                       code, AUTH_STATUS[code], details,
                       token_reference=token_rec.reference_number if token_rec else None)
    st.auth_ops[op.reference_number] = op
    st.save(op)
    valid_until = st.later_iso(st.config.operation_token_ttl_s)
    token = _issue(st, OPERATION, op, st.config.operation_token_ttl_s)
    return json_response({"referenceNumber": op.reference_number,
                          "authenticationToken": {"token": token, "validUntil": valid_until}}, 202)


def _issue(st, token_type: str, op: AuthOperation, ttl_s: float) -> str:
    now_s = int(st.clock.time())
    return st.signer.issue(Claims(token_type, op.reference_number, op.context_type, op.context_value,
                                  now_s, now_s + int(ttl_s)))


def _operation(st, claims: Claims, reference: str | None = None) -> AuthOperation:
    ref = reference or claims.operation_reference
    op = st.auth_ops.get(ref)
    if op is None or claims.operation_reference != ref:
        raise KsefError(21304, [f"Operacja uwierzytelniania o numerze referencyjnym {ref} nie została znaleziona."])
    return op


@routes.get("/v2/auth/{referenceNumber}")
async def auth_status(request: web.Request) -> web.Response:
    st = state_of(request)
    claims = require(request, OPERATION)
    op = _operation(st, claims, request.match_info["referenceNumber"])
    body = {
        "startDate": op.start_date,
        "authenticationMethod": op.method,
        "authenticationMethodInfo": method_info(op),
        "status": {"code": op.status_code, "description": op.status_description,
                   **({"details": op.status_details} if op.status_details else {})},
        "isTokenRedeemed": op.redeemed,
        "lastTokenRefreshDate": op.last_refresh,
        "refreshTokenValidUntil": op.refresh_valid_until,
    }
    return json_response(body)


@routes.post("/v2/auth/token/redeem")
async def redeem(request: web.Request) -> web.Response:
    st = state_of(request)
    op = _operation(st, require(request, OPERATION))
    if op.redeemed:
        raise KsefError(21301, [f"Tokeny dla operacji uwierzytelniania {op.reference_number} zostały już pobrane."])
    if op.status_code != 200:
        raise KsefError(21301, [f"Status uwierzytelniania ({op.status_code}) nie pozwala na pobranie tokenów."])
    op.redeemed = True
    op.refresh_valid_until = st.later_iso(st.config.refresh_token_ttl_s)
    st.save(op)
    return json_response({
        "accessToken": {"token": _issue(st, ACCESS, op, st.config.access_token_ttl_s),
                        "validUntil": st.later_iso(st.config.access_token_ttl_s)},
        "refreshToken": {"token": _issue(st, REFRESH, op, st.config.refresh_token_ttl_s),
                         "validUntil": op.refresh_valid_until},
    })


@routes.post("/v2/auth/token/refresh")
async def refresh(request: web.Request) -> web.Response:
    st = state_of(request)
    op = _operation(st, require(request, REFRESH))
    if op.revoked:
        raise unauthorized("Sesja uwierzytelnienia została unieważniona (DELETE /auth/sessions);"
                           " uwierzytelnij się ponownie.")
    if op.status_code != 200:
        raise KsefError(21301, [f"Status uwierzytelniania ({op.status_code}) nie pozwala na odświeżenie tokenu dostępowego."])
    op.last_refresh = st.now_iso()
    st.save(op)
    return json_response({"accessToken": {"token": _issue(st, ACCESS, op, st.config.access_token_ttl_s),
                                          "validUntil": st.later_iso(st.config.access_token_ttl_s)}})
