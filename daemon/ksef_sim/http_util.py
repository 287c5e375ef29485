"""Small helpers shared by the route modules: state access, bearer checks, body parsing."""
from __future__ import annotations

import base64
import binascii
import json

from aiohttp import web

from .errors import HttpProblem, KsefError, unauthorized
from .state import SimState
from .tokens import ACCESS, Claims, TokenError

STATE_KEY = web.AppKey("ksef_sim_state", SimState)


def state_of(request: web.Request) -> SimState:
    return request.app[STATE_KEY]


def bearer(request: web.Request) -> str:
    header = request.headers.get("Authorization", "")
    if not header.startswith("Bearer ") or not header[7:].strip():
        raise unauthorized("Brak nagłówka Authorization: Bearer <token>.")
    return header[7:].strip()


def require(request: web.Request, token_type: str) -> Claims:
    st = state_of(request)
    try:
        return st.signer.verify(bearer(request), token_type, st.clock.time())
    except TokenError as exc:
        raise unauthorized(str(exc)) from None


def require_access(request: web.Request) -> Claims:
    claims = require(request, ACCESS)
    if claims.context_type != "Nip":
        raise HttpProblem(403, "Forbidden", "Simulator supports only the Nip context.", "context-type-not-allowed")
    return claims


async def json_body(request: web.Request) -> dict:
    try:
        data = json.loads(await request.read() or b"null")
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise KsefError(21405, [f"Treść żądania nie jest poprawnym JSON: {exc}"]) from None
    if not isinstance(data, dict):
        raise KsefError(21405, ["Treść żądania musi być obiektem JSON."])
    return data


def field(data: dict, path: str, kind: type | tuple, *, required: bool = True):
    """Read `a.b.c` from a JSON body, checking its type; 21405 naming the field otherwise."""
    value: object = data
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    if value is None:
        if required:
            raise KsefError(21405, [f"Pole '{path}' jest wymagane."])
        return None
    if isinstance(value, bool) and kind is int:
        raise KsefError(21405, [f"Pole '{path}' musi być liczbą."])
    if not isinstance(value, kind):
        raise KsefError(21405, [f"Pole '{path}' ma nieprawidłowy typ."])
    return value


def b64_field(data: dict, path: str, *, length: int | None = None, required: bool = True) -> bytes | None:
    text = field(data, path, str, required=required)
    if text is None:
        return None
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise KsefError(21405, [f"Pole '{path}' nie jest poprawnym Base64."]) from None
    if length is not None and len(raw) != length:
        raise KsefError(21405, [f"Pole '{path}' musi zawierać {length} bajtów, ma {len(raw)}."])
    return raw


def continuation_offset(request: web.Request) -> int:
    """Where a paged list resumes: our `x-continuation-token` is opaque to clients (base64 JSON offset)."""
    token = request.headers.get("x-continuation-token")
    if not token:
        return 0
    try:
        return int(json.loads(base64.b64decode(token))["offset"])
    except Exception:
        raise KsefError(21418, ["Przekazany token kontynuacji ma nieprawidłowy format."]) from None


def continuation_token(offset: int) -> str:
    return base64.b64encode(json.dumps({"offset": offset}).encode()).decode()
