"""What the simulator answers for an API path it does not serve: KSeF-shaped JSON, never aiohttp's
plain text, so any client's error handling sees the shape it was written for.

An operation of the official open-api.json that ksef-sim does not implement → 501 with an
ExceptionResponse body (or problem+json on request) naming the operation; a path not in the
official API → 404 in the same shape. SIMULATOR CONVENTION: real KSeF's answer to an unknown path
is not documented; the `exceptionCode` here is the HTTP status (no KSeF code exists for it).
"""
from __future__ import annotations

from aiohttp import web

from . import spec
from .errors import PROBLEM_JSON, json_response, trace_id, wants_problem_details

API_PREFIX = "/v2"


def answer(request: web.Request, exc: web.HTTPException, now_iso: str) -> web.Response:
    api_path = request.path[len(API_PREFIX):] or "/"
    op = spec.find_operation(request.method, api_path)
    if op is not None:
        status, title = 501, "Not Implemented"
        detail = (f"Operacja {op.method} {op.path} z oficjalnego API KSeF nie jest obsługiwana przez ksef-sim;"
                  " użyj środowiska testowego KSeF (TE), aby ją sprawdzić.")
    elif isinstance(exc, web.HTTPMethodNotAllowed) or spec.path_exists(api_path):
        status, title = 405, "Method Not Allowed"
        detail = f"Metoda {request.method} nie jest dozwolona dla {api_path} w API KSeF."
    else:
        status, title = 404, "Not Found"
        detail = f"Ścieżka {api_path} nie istnieje w API KSeF 2.0 (open-api.json)."
    if wants_problem_details(request):
        return json_response({"title": title, "status": status, "instance": request.path, "detail": detail,
                              "timestamp": now_iso, "traceId": trace_id()}, status, PROBLEM_JSON)
    return json_response({"exception": {
        "exceptionDetailList": [{"exceptionCode": status, "exceptionDescription": title, "details": [detail]}],
        "serviceCode": trace_id(), "serviceCtx": "srvKSEF", "serviceName": "ksef-sim", "timestamp": now_iso,
    }}, status)
