"""The aiohttp application: routes, bearer-token check, uniform JSON errors."""
from __future__ import annotations

import asyncio
import base64
import contextlib
import hmac
import logging
import time
from typing import Any, Awaitable, Callable, Iterator

from aiohttp import web

from ..daemon_state import DaemonState
from ..domain.errors import DomainError, InvoiceError, SchemaError
from ..domain.kod2_check import Kod2SignatureError
from ..issuing.errors import MalformedRequestError, RequestError
from ..issuing.invoice_request import canonical_json, parse_body, parse_invoice_request, request_hash
from ..issuing.kor_issuer import correction_request_hash
from ..issuing.kor_lines import invoice_lines
from ..issuing.kor_request import request_from_body
from ..issuing.technical_corrections import technical_correction_json, technical_correction_of
from ..ksef.upo_check import stored_upo_signature
from ..logfields import ERROR_CODE, invoice_fields
from ..printing.printable import check_receipt_printable
from ..refusal import Refusal
from ..store import (
    ClockBehindError,
    IdempotencyConflictError,
    InvoiceRecord,
    InvoiceState,
    NotFoundError,
    PrintState,
    StorageFullError,
)
from ..web import register_pages
from .connections import guard_middleware
from .errors import ApiError, error_response
from .host_check import ALLOWED_HOSTS_KEY, allowed_hosts, host_middleware
from .request_body import read_body
from .state_key import STATE_KEY
from .status_routes import get_status, healthz, metrics, openapi_document
from .stopping import refuse_while_stopping
from .tills import TILLS_KEY, request_till, till_name, till_of_token

log = logging.getLogger("ksef_edge.api")

IDEMPOTENCY_KEY_MAX = 200
LIST_LIMIT_DEFAULT = 50
LIST_LIMIT_MAX = 500

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def build_app(state: DaemonState) -> web.Application:
    app = web.Application(
        middlewares=[guard_middleware, host_middleware, _errors_middleware, _auth_middleware, refuse_while_stopping],
        client_max_size=state.config.api.body_bytes_max,
    )
    app[STATE_KEY] = state
    if state.config.api.unix_socket is None:  # no browser reaches a Unix socket: no DNS rebinding there
        app[ALLOWED_HOSTS_KEY] = allowed_hosts(state.config.api.listen_host, state.config.api.allowed_hosts)
    from .report_routes import register_reports

    register_reports(app)  # first: /v1/invoices/{id}.pdf must win over /v1/invoices/{id}
    app.router.add_post("/v1/invoices", post_invoice)
    app.router.add_get("/v1/invoices", list_invoices)
    app.router.add_get("/v1/invoices/{id}", get_invoice)
    app.router.add_get("/v1/invoices/{id}/xml", get_invoice_xml)
    app.router.add_get("/v1/invoices/{id}/corrected.xml", get_corrected_xml)
    app.router.add_post("/v1/invoices/{id}/reprint", reprint_invoice)
    app.router.add_post("/v1/invoices/{id}/corrections", post_correction)
    app.router.add_get("/v1/invoices/{id}/corrections", list_corrections)
    app.router.add_get("/v1/invoices/{id}/lines", get_invoice_lines)
    app.router.add_get("/v1/status", get_status)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/openapi.json", openapi_document)
    register_pages(app, state)
    return app


# ------------------------------------------------------------------------------------ middleware


@web.middleware
async def _errors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except Refusal as exc:  # ApiError, or a service's refusal (e.g. a correction of an uncorrectable invoice)
        return error_response(exc.status, exc.code, exc.message, exc.field)
    except RequestError as exc:  # the request reader's: not a request at all (400), or not a valid one (422)
        return error_response(400 if isinstance(exc, MalformedRequestError) else 422, exc.code, exc.message, exc.field)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        codes = {404: "not_found", 405: "method_not_allowed", 413: "body_too_large"}
        return error_response(exc.status, codes.get(exc.status, "http_error"), exc.reason)
    except asyncio.CancelledError:
        raise
    except StorageFullError as exc:  # any write (a reprint's print state): the cashier must see why
        return error_response(507, "storage_full", f"{exc}; nothing was changed, retry once space is freed")
    except Exception:
        log.exception("unhandled error in %s %s", request.method, request.path)
        return error_response(500, "internal", "internal error; see the daemon log")


@web.middleware
async def _auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path.startswith("/v1/") or request.path == "/v1":
        state = request.app[STATE_KEY]
        header = request.headers.get("Authorization", "")
        scheme, _, presented = header.partition(" ")
        by_till = till_of_token(request, presented.strip()) if scheme.lower() == "bearer" else False
        ok = by_till if by_till is not None else scheme.lower() == "bearer" and hmac.compare_digest(
            presented.strip().encode(), state.config.api.token.encode()
        )
        if not ok:
            state.metrics.unauthorized.inc()
            why = "no bearer token" if not header else "wrong bearer token"
            log.warning("unauthorized %s %s from %s: %s", request.method, request.path, request.remote, why)
            resp = error_response(
                401, "unauthorized", "send the POS token as `Authorization: Bearer <token>` ([api] token_file)"
            )
            resp.headers["WWW-Authenticate"] = 'Bearer realm="ksef-edge"'
            return resp
    return await handler(request)


# ------------------------------------------------------------------------------------- invoices


async def post_invoice(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    started = time.perf_counter()
    with _refusals_counted(state):
        key = _idempotency_key(request)
        body = await _json_body(request)
        draft = parse_invoice_request(body)
        check_receipt_printable(draft, state.config.printer)  # a receipt for every invoice, or 422 before a number
        canonical = canonical_json(body)
        with _issue_errors("invoice", invalid_code="invalid_invoice"):
            issued = await _run_to_commit(state.issuer.issue(
                draft, idempotency_key=key, request_hash=request_hash(canonical), request_json=canonical,
                till=request_till(request),
            ))
    record, created = issued.record, issued.created
    if issued.totals is not None:  # the document just built: the 201 needs no re-read and no re-parse
        state.remember_totals(record, issued.totals)
    if created:
        _count_till(request)
        log.info("issued invoice %s", record.number, extra=invoice_fields(record, "issued", kind="VAT"))
    return await _issued_response(state, record, created, started, draft, document="invoice",
                                 till=request_till(request) if created else till_name(request, record.id))


async def post_correction(request: web.Request) -> web.Response:
    """A correction invoice (KOR) of invoice {id}: returns, price fixes (docs/corrections.md)."""
    state = request.app[STATE_KEY]
    started = time.perf_counter()
    with _refusals_counted(state):
        original_id = _id(request)
        key = _idempotency_key(request)
        body = await _json_body(request)
        try:
            correction_request = request_from_body(body)
        except InvoiceError as exc:
            raise ApiError(422, "invalid_correction", exc.message, exc.field) from None
        canonical = canonical_json(body)
        with _issue_errors("correction", invalid_code="invalid_correction"):
            try:
                record, created = await _run_to_commit(state.corrections.issue(
                    original_id, correction_request, idempotency_key=key,
                    request_hash=correction_request_hash(original_id, canonical), request_json=canonical,
                    till=request_till(request),
                ))
            except NotFoundError as exc:
                raise ApiError(404, "not_found", f"{exc}; give the id of the invoice to correct", "id") from None
    if created:
        _count_till(request)
        log.info("issued correction %s of invoice id=%s", record.number, record.corrects_id,
                 extra=invoice_fields(record, "issued", kind="KOR"))
    return await _issued_response(state, record, created, started, None, document="correction",
                                 till=request_till(request) if created else till_name(request, record.id))


def _count_till(request: web.Request) -> None:
    """The per-till counter; the till itself was stored with the invoice, in its transaction."""
    tills = request.app.get(TILLS_KEY)
    if tills is not None:
        tills.count(request)


@contextlib.contextmanager
def _refusals_counted(state: DaemonState) -> Iterator[None]:
    """Count every refused issuance by its error code (ksef_edge_refused_total)."""
    try:
        yield
    except (Refusal, RequestError) as exc:
        state.metrics.refused.labels(code=exc.code).inc()
        log.info("issue refused: %s", exc.code, extra={ERROR_CODE: exc.code})
        if exc.code == Kod2SignatureError.code:  # an alarm in /v1/status until an issuance succeeds
            state.kod2_alarm = exc.message
        raise


@contextlib.contextmanager
def _issue_errors(document: str, *, invalid_code: str) -> Iterator[None]:
    """What issuing an invoice or a correction may raise, as API errors (nothing was stored)."""
    try:
        yield
    except InvoiceError as exc:
        raise ApiError(422, invalid_code, exc.message, exc.field) from None
    except ClockBehindError as exc:
        raise ApiError(503, "clock_behind", str(exc)) from None
    except IdempotencyConflictError as exc:
        raise ApiError(409, "idempotency_conflict", str(exc), "Idempotency-Key") from None
    except StorageFullError as exc:
        raise ApiError(
            507, "storage_full", f"{exc}; nothing was stored, retry with the same Idempotency-Key"
        ) from None
    except SchemaError as exc:
        log.error("built %s XML failed the FA(3) schema (a bug): %s", document, exc)
        raise ApiError(
            500, "schema_error", f"the {document} could not be built as valid FA(3); nothing was stored"
        ) from None
    except Kod2SignatureError as exc:
        log.error("KOD II signature of certificate %s does not verify: %s; issuance refused", exc.serial, exc.why)
        raise ApiError(503, exc.code, str(exc)) from None
    except DomainError as exc:
        raise ApiError(422, invalid_code, str(exc)) from None


async def _run_to_commit(issue: Awaitable[Any]) -> Any:
    """Shielded: a client that hangs up mid-request must never cut the transaction."""
    return await asyncio.shield(asyncio.ensure_future(issue))


async def _issued_response(
    state: DaemonState, record: InvoiceRecord, created: bool, started: float, draft: Any, *, document: str,
    till: str | None = None,
) -> web.Response:
    """201 with the document; a new one is counted and handed to the post-issue hooks, a replay is marked."""
    if created:
        state.kod2_alarm = None
        state.metrics.issued.inc()
        state.metrics.issue_seconds.observe(time.perf_counter() - started)
        for hook in state.on_issued:  # printer, uplink: the document is committed whatever they do
            try:
                hook(record, draft)
            except Exception:
                log.exception("post-issue hook failed for %s %s", document, record.number)
    else:
        state.metrics.replayed.inc()
    resp = web.json_response({**await _full_json(state, record), "till": till}, status=201)
    resp.headers["Location"] = f"/v1/invoices/{record.id}"
    if not created:
        resp.headers["Idempotent-Replayed"] = "true"
    return resp


async def list_corrections(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    record = await _record(request)
    items = [{**await _full_json(state, r, with_original=False), "till": till_name(request, r.id)}
             for r in await state.store.corrections_of(record.id)]
    return web.json_response({"items": items})


async def get_invoice_lines(request: web.Request) -> web.Response:
    """The lines as sold and what remains after earlier corrections (for a return form)."""
    state = request.app[STATE_KEY]
    return web.json_response(await invoice_lines(state.store, await _record(request)))


async def get_invoice(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    record = await _record(request)
    return web.json_response({**await _full_json(state, record), "till": till_name(request, record.id)})


async def get_invoice_xml(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    invoice_id = _id(request)
    try:
        xml = await state.store.get_xml(invoice_id)
    except NotFoundError as exc:
        raise ApiError(404, "not_found", str(exc)) from None
    return web.Response(body=xml, content_type="application/xml", charset="utf-8")


async def get_corrected_xml(request: web.Request) -> web.Response:
    """The file KSeF accepted in place of a rejected invoice (`ksef-edge correct`); `/xml` keeps the original."""
    state = request.app[STATE_KEY]
    record = await _record(request)
    correction = await technical_correction_of(state.store, record)
    if correction is None:
        raise ApiError(404, "no_technical_correction",
                       f"invoice {record.number} has no technical correction (state {record.state.value}); "
                       f"GET /v1/invoices/{record.id}/xml serves its file")
    return web.Response(body=correction.xml, content_type="application/xml", charset="utf-8")


async def reprint_invoice(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    record = await _record(request)
    if state.printer is None:
        raise ApiError(409, "no_printer", "no printer is configured; set [printer] in the device config")
    await state.store.set_print_state(record.id, PrintState.PENDING)
    await state.printer.reprint(record)
    return web.json_response({"id": record.id, "number": record.number, "print_state": "pending"}, status=202)


async def list_invoices(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    q = request.query
    inv_state = None
    if q.get("state"):
        try:
            inv_state = InvoiceState(q["state"])
        except ValueError:
            allowed = ", ".join(s.value for s in InvoiceState)
            raise ApiError(400, "invalid_query", f"state must be one of {allowed}", "state") from None
    order = q.get("order") or "asc"
    if order not in ("asc", "desc"):
        raise ApiError(400, "invalid_query", "order must be asc (oldest first) or desc (newest first)", "order")
    limit = _int_query(q, "limit", LIST_LIMIT_DEFAULT, 1, LIST_LIMIT_MAX)
    after = _int_query(q, "after", 0, 0, 2**62)  # the last id of the previous page, in the order asked

    async def page(cursor: int, n: int) -> list[InvoiceRecord]:
        if order == "desc":  # `after` 0 = from the newest; else ids older than the cursor
            return await state.store.list_newest_first(state=inv_state, limit=n, before=cursor or None)
        return await state.store.list_oldest_first(state=inv_state, limit=n, after=cursor)

    records = await page(after, limit)
    # a full page has a next page only if something follows it (no empty last page for the client to fetch)
    more = len(records) == limit and bool(await page(records[-1].id, 1))
    next_after = records[-1].id if more else None
    items = [{**await _full_json(state, r, with_original=False), "till": till_name(request, r.id)} for r in records]
    return web.json_response({"items": items, "next_after": next_after})


# -------------------------------------------------------------------------------------- helpers


def invoice_json(r: InvoiceRecord) -> dict[str, Any]:
    return {
        "id": r.id,
        "number": r.number,
        "issue_date": r.issue_date.isoformat(),
        "created_at": r.created_at.isoformat(),
        "sha256": base64.b64encode(r.sha256).decode("ascii"),
        "kod1_url": r.kod1_url,
        "kod2_url": r.kod2_url,
        "cert_serial": r.cert_serial,
        "offline_mode": r.offline_mode,
        "deadline": r.deadline.isoformat() if r.deadline else None,
        "state": r.state.value,
        "print_state": r.print_state.value,
        "ksef_number": r.ksef_number,
        "upo_available": r.upo is not None,
        "rejection": {"code": r.reject_code, "reason": r.reject_reason} if r.state is InvoiceState.REJECTED else None,
        "kind": r.kind,
        "corrects_id": r.corrects_id,
    }


async def _full_json(state: DaemonState, r: InvoiceRecord, *, with_original: bool = True) -> dict[str, Any]:
    """`invoice_json` plus `totals` (from the stored bytes), a technical correction if KSeF holds one,
    and, for a correction invoice (KOR), the invoice it corrects."""
    body = invoice_json(r)
    body["upo_signature"] = stored_upo_signature(r.upo)  # reported, never blocking (ksef/upo_check.py)
    tc = await technical_correction_of(state.store, r)
    body["technical_correction"] = technical_correction_json(r, tc) if tc is not None else None
    totals = await state.invoice_totals(r)
    body["totals"] = totals.to_json() if totals is not None else None
    if with_original and r.corrects_id is not None:
        original = await state.store.get(r.corrects_id)
        body["corrects"] = {
            "id": original.id, "number": original.number, "issue_date": original.issue_date.isoformat(),
            "state": original.state.value, "ksef_number": original.ksef_number,
        }
    return body


async def _json_body(request: web.Request) -> Any:
    state = request.app[STATE_KEY]
    if request.content_type != "application/json":
        raise ApiError(
            415, "unsupported_media_type",
            f"send JSON with Content-Type: application/json (got {request.content_type})",
        )
    return parse_body(await read_body(request, state.config.api.body_bytes_max, state.config.api.body_timeout_s))


def _idempotency_key(request: web.Request) -> str:
    key = request.headers.get("Idempotency-Key")
    if key is None:
        raise ApiError(
            400, "missing_idempotency_key",
            "send an Idempotency-Key header (e.g. the till's receipt id or a UUID) so a retry cannot issue twice",
            "Idempotency-Key",
        )
    key = key.strip()
    if not key or len(key) > IDEMPOTENCY_KEY_MAX or not all(33 <= ord(c) < 127 for c in key):
        raise ApiError(
            400, "invalid_idempotency_key",
            f"Idempotency-Key must be 1-{IDEMPOTENCY_KEY_MAX} printable ASCII characters without spaces",
            "Idempotency-Key",
        )
    return key


def _id(request: web.Request) -> int:
    raw = request.match_info["id"]
    if not raw.isascii() or not raw.isdigit() or len(raw) > 18:
        raise ApiError(404, "not_found", f"no invoice with id {raw!r}")
    return int(raw)


async def _record(request: web.Request) -> InvoiceRecord:
    state = request.app[STATE_KEY]
    try:
        return await state.store.get(_id(request))
    except NotFoundError as exc:
        raise ApiError(404, "not_found", str(exc)) from None


def _int_query(q: Any, name: str, default: int, lo: int, hi: int) -> int:
    raw = q.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isascii() or not raw.isdigit() or not lo <= int(raw) <= hi:
        raise ApiError(400, "invalid_query", f"{name} must be an integer {lo}..{hi}", name)
    return int(raw)
