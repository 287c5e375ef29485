"""KSeF error bodies (protocol.md §9.3): ExceptionResponse for 400 (problem+json on request),
the legacy 429 body, and problem+json for 401/403/410."""
from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field

from aiohttp import web

PROBLEM_JSON = "application/problem+json"

# exceptionCode -> exceptionDescription, verbatim from open-api.json
DESCRIPTIONS = {
    21111: "Nieprawidłowe wyzwanie autoryzacyjne.",
    21155: "Przekroczono dozwoloną liczbę faktur w sesji.",
    21157: "Nieprawidłowy rozmiar części pakietu.",
    21161: "Przekroczono dozwoloną liczbę części pakietu.",
    21166: "Korekta techniczna niedostępna.",
    21167: "Status faktury nie pozwala na korektę techniczną.",
    21173: "Brak sesji o wskazanym numerze referencyjnym.",
    21180: "Status sesji nie pozwala na wykonanie operacji.",
    21205: "Pakiet nie może być pusty.",
    21208: "Czas oczekiwania na requesty upload lub finish został przekroczony.",
    21301: "Brak autoryzacji.",
    21304: "Brak uwierzytelnienia.",
    21402: "Nieprawidłowy rozmiar pliku.",
    21403: "Nieprawidłowy skrót pliku.",
    21164: "Faktura o podanym identyfikatorze nie istnieje.",
    21405: "Błąd walidacji danych wejściowych.",
    21418: "Przekazany token kontynuacji ma nieprawidłowy format.",
    21470: "Przesłany identyfikator klucza jest nieznany lub wskazuje na wycofany klucz.",
    21001: "Nieczytelna treść.",
    21115: "Nieprawidłowy certyfikat.",
    21117: "Nieprawidłowy identyfikator podmiotu dla wskazanego typu kontekstu.",
    21217: "Nieprawidłowe kodowanie znaków.",
    21401: "Dokument nie jest zgodny ze schemą (xsd).",
    9101: "Nieprawidłowy dokument.",
    9102: "Brak podpisu.",
    9103: "Przekroczona liczba dozwolonych podpisów.",
    9105: "Nieprawidłowy podpis.",
}


@dataclass
class KsefError(Exception):
    """A 400 answered with exceptionCode; `details` name the problem and how to fix it."""

    code: int
    details: list[str] = field(default_factory=list)
    status: int = 400

    def __str__(self) -> str:
        return f"{self.code} {DESCRIPTIONS.get(self.code, '')} {self.details}"


@dataclass
class HttpProblem(Exception):
    """401/403/410 — always application/problem+json."""

    status: int
    title: str
    detail: str
    reason_code: str | None = None


def wants_problem_details(request: web.Request) -> bool:
    return request.headers.get("X-Error-Format", "").lower() == "problem-details"


def trace_id() -> str:
    return secrets.token_hex(16)


def json_response(body: object, status: int = 200, content_type: str = "application/json",
                  headers: dict | None = None) -> web.Response:
    return web.Response(body=json.dumps(body, ensure_ascii=False).encode("utf-8"), status=status,
                        content_type=content_type, charset="utf-8", headers=headers)


def bad_request(request: web.Request, err: KsefError, now_iso: str, reference: str | None = None) -> web.Response:
    description = DESCRIPTIONS.get(err.code, "Błąd")
    if wants_problem_details(request):
        body = {
            "title": "Bad Request", "status": 400, "instance": request.path,
            "detail": description,
            "errors": [{"code": err.code, "description": description, "details": err.details}],
            "timestamp": now_iso, "traceId": trace_id(),
        }
        return json_response(body, 400, PROBLEM_JSON)
    body = {"exception": {
        "exceptionDetailList": [{"exceptionCode": err.code, "exceptionDescription": description,
                                 "details": err.details}],
        "serviceCode": trace_id(),
        "serviceCtx": "srvKSEF",
        "serviceName": "ksef-sim",
        "timestamp": now_iso,
    }}
    if reference is not None:
        body["exception"]["referenceNumber"] = reference
    return json_response(body, 400)


def problem(request: web.Request, err: HttpProblem, now_iso: str) -> web.Response:
    body: dict = {"title": err.title, "status": err.status, "detail": err.detail,
                  "instance": request.path, "timestamp": now_iso, "traceId": trace_id()}
    if err.status == 403:
        body["reasonCode"] = err.reason_code or "missing-permissions"
    return json_response(body, err.status, PROBLEM_JSON)


def too_many_requests(request: web.Request, retry_after_s: int, detail: str, now_iso: str) -> web.Response:
    headers = {"Retry-After": str(retry_after_s)}
    if wants_problem_details(request):
        body = {"title": "Too Many Requests", "status": 429, "instance": request.path, "detail": detail,
                "timestamp": now_iso, "traceId": trace_id()}
        return json_response(body, 429, PROBLEM_JSON, headers)
    body = {"status": {"code": 429, "description": "Too Many Requests", "details": [detail]}}
    return json_response(body, 429, headers=headers)


def unauthorized(detail: str) -> HttpProblem:
    return HttpProblem(401, "Unauthorized", detail)
