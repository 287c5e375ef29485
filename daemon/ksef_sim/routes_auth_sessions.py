"""Authentication sessions (open-api.json, API 2.6.0): GET /auth/sessions lists the active ones of
the caller's context, DELETE /auth/sessions/current and /auth/sessions/{referenceNumber} revoke one.
Revoking stops its refresh token; access tokens already issued keep working until they expire
(both quoted from the operations' descriptions)."""
from __future__ import annotations

from aiohttp import web

from .errors import HttpProblem, KsefError, json_response
from .http_util import continuation_offset, continuation_token, require_access, state_of
from .model import AuthOperation
from .state import SimState
from .tokens import ACCESS, REFRESH, Claims, TokenError

routes = web.RouteTableDef()
METHOD_INFO = {
    "Token": {"category": "Token", "code": "token.ksef", "displayName": "Token KSeF"},
    "InternalCertificate": {"category": "XadesSignature", "code": "xades.internal-certificate",
                            "displayName": "Certyfikat KSeF"},
    "QualifiedSeal": {"category": "XadesSignature", "code": "xades.qualified-seal",
                      "displayName": "Pieczęć kwalifikowana"},
    "QualifiedSignature": {"category": "XadesSignature", "code": "xades.qualified-signature",
                           "displayName": "Podpis kwalifikowany"},
}


def method_info(op: AuthOperation) -> dict:
    return METHOD_INFO.get(op.method, METHOD_INFO["Token"])


def _active(st: SimState, op: AuthOperation) -> bool:
    if op.revoked or not op.redeemed or op.status_code != 200:
        return False
    return op.refresh_valid_until is None or op.refresh_valid_until > st.now_iso()


@routes.get("/v2/auth/sessions")
async def list_sessions(request: web.Request) -> web.Response:
    st = state_of(request)
    claims = require_access(request)
    size_text = request.query.get("pageSize", "10")
    if not size_text.isdigit() or not 10 <= int(size_text) <= 100:
        raise KsefError(21405, ["pageSize musi być liczbą od 10 do 100."])
    size = int(size_text)
    ops = sorted((op for op in st.auth_ops.values()
                  if op.context_value == claims.context_value and _active(st, op)),
                 key=lambda o: o.start_date, reverse=True)
    start = continuation_offset(request)
    current = claims.operation_reference
    items = [{"referenceNumber": op.reference_number, "isCurrent": op.reference_number == current,
              "startDate": op.start_date, "authenticationMethod": op.method,
              "authenticationMethodInfo": method_info(op),
              "status": {"code": op.status_code, "description": op.status_description},
              "isTokenRedeemed": op.redeemed, "lastTokenRefreshDate": op.last_refresh,
              "refreshTokenValidUntil": op.refresh_valid_until} for op in ops[start:start + size]]
    body: dict = {"items": items}
    if start + size < len(ops):
        body["continuationToken"] = continuation_token(start + size)
    return json_response(body)


def _caller(request: web.Request) -> Claims:
    """An access token or a refresh token (DELETE /auth/sessions/current accepts both)."""
    st = state_of(request)
    header = request.headers.get("Authorization", "")
    token = header[7:].strip() if header.startswith("Bearer ") else ""
    for kind in (ACCESS, REFRESH):
        try:
            return st.signer.verify(token, kind, st.clock.time())
        except TokenError:
            continue
    raise HttpProblem(401, "Unauthorized", "Brak ważnego access tokena lub refresh tokena w nagłówku Authorization.")


def _revoke(st: SimState, op: AuthOperation) -> web.Response:
    op.revoked = True
    op.status_code, op.status_description = 425, "Uwierzytelnienie unieważnione"
    op.status_details = ["Uwierzytelnienie i powiązane refresh tokeny zostały unieważnione przez użytkownika"]
    st.save(op)
    return web.Response(status=204)


@routes.delete("/v2/auth/sessions/current")
async def revoke_current(request: web.Request) -> web.Response:
    st = state_of(request)
    claims = _caller(request)
    op = st.auth_ops.get(claims.operation_reference)
    if op is None:
        raise KsefError(21405, [f"Sesja uwierzytelnienia {claims.operation_reference} nie istnieje."])
    return _revoke(st, op)


@routes.delete("/v2/auth/sessions/{referenceNumber}")
async def revoke_one(request: web.Request) -> web.Response:
    st = state_of(request)
    claims = require_access(request)
    ref = request.match_info["referenceNumber"]
    op = st.auth_ops.get(ref)
    if op is None or op.context_value != claims.context_value:
        raise KsefError(21405, [f"Sesja uwierzytelnienia {ref} nie istnieje w kontekście {claims.context_value}."])
    return _revoke(st, op)
