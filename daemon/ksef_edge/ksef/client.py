"""A small async KSeF 2.0 client on aiohttp (why not `ksef-client`: see docs/uplink.md).

It speaks the protocol and nothing more: auth with a KSeF token, online and batch sessions,
statuses, UPO, rate limits and Latarnia. Every request goes through the `Pacer`, so the
uplink never trips KSeF's rate limits; state, persistence and retries policy live in `uplink.py`.
"""
from __future__ import annotations

import asyncio
import base64
import datetime as dt
import json
import logging
from dataclasses import dataclass, field
from typing import Any, Callable

import aiohttp

from .batch import BatchPackage
from .crypto import (
    USAGE_SYMMETRIC,
    USAGE_TOKEN,
    MfPublicKey,
    SymmetricKey,
    encrypt_ksef_token,
    pick_public_key,
    sha256_b64,
)
from .errors import KsefAuthError, KsefHttpError, KsefProtocolError, KsefUnavailable
from .models import (
    FA3_FORM_CODE,
    ContextIdentifier,
    Environment,
    InvoiceStatus,
    LatarniaMessage,
    LatarniaStatus,
    SessionStatus,
    Upo,
    parse_datetime,
)
from .pacer import Limit, Pacer
from .public_keys import PublicKeyCache
from .system_warning import SYSTEM_WARNINGS
from .uplink_clock import Clock, SystemClock

log = logging.getLogger(__name__)

UNKNOWN_KEY_CODE = 21470  # "identyfikator klucza jest nieznany lub wskazuje na wycofany klucz"
REFRESH_BEFORE_S = 60.0
AUTH_POLL_MAX = 40
RETRY_429_MAX = 3


@dataclass
class _Tokens:
    access: str = field(repr=False)
    access_valid_until: dt.datetime
    refresh: str = field(repr=False)
    refresh_valid_until: dt.datetime | None


@dataclass(frozen=True)
class OnlineSession:
    reference_number: str
    valid_until: dt.datetime | None
    key: SymmetricKey = field(repr=False)


@dataclass(frozen=True)
class PartUpload:
    ordinal_number: int
    method: str
    url: str
    headers: dict[str, str]


@dataclass(frozen=True)
class BatchSession:
    reference_number: str
    uploads: tuple[PartUpload, ...]


def _codes(body: Any) -> tuple[tuple[int, ...], str]:
    """exceptionCodes and a readable message from either error format (protocol.md §9.3)."""
    if not isinstance(body, dict):
        return (), str(body)[:300]
    if "exception" in body:
        items = body["exception"].get("exceptionDetailList") or []
        codes = tuple(int(i["exceptionCode"]) for i in items if "exceptionCode" in i)
        text = "; ".join(str(i.get("exceptionDescription", "")) for i in items)
        return codes, text
    if "errors" in body:
        items = body.get("errors") or []
        codes = tuple(int(i["code"]) for i in items if "code" in i)
        return codes, "; ".join(str(i.get("description", "")) for i in items) or str(body.get("detail", ""))
    if "status" in body and isinstance(body["status"], dict):
        return (), "; ".join([str(body["status"].get("description", ""))] + list(body["status"].get("details") or []))
    return (), str(body.get("detail") or body.get("title") or "")[:300]


def _retry_after(headers: Any) -> float | None:
    raw = headers.get("Retry-After")
    if raw is None:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        return None


class KsefClient:
    """KSeF 2.0 over aiohttp. `token_provider()` returns the KSeF token from custody when needed
    (never stored beyond the call, never logged)."""

    def __init__(
        self,
        env: Environment,
        *,
        context: ContextIdentifier,
        token_provider: Callable[[], str],
        pacer: Pacer | None = None,
        clock: Clock | None = None,
        timeout_s: float = 30.0,
        http: aiohttp.ClientSession | None = None,
    ) -> None:
        self.env = env
        self.context = context
        self._token_provider = token_provider
        self.clock = clock or SystemClock()
        self.pacer = pacer or Pacer(clock=self.clock)
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._http = http
        self._own_http = http is None
        self._keys = PublicKeyCache()  # refreshed daily and before a cached key's validTo (public_keys.py)
        self._tokens: _Tokens | None = None
        self._auth_lock = asyncio.Lock()
        self.throttled = 0  # 429 answers received: should stay 0 when the pacer follows the limits

    async def __aenter__(self) -> "KsefClient":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._http is not None and self._own_http:
            await self._http.close()
        self._http = None

    def _session(self) -> aiohttp.ClientSession:
        if self._http is None or self._http.closed:
            self._http = aiohttp.ClientSession(timeout=self._timeout)
            self._own_http = True
        # aiohttp silently sends an idempotent request (GET, PUT) a second time when a kept-alive
        # connection drops mid-request. That second request never went through the pacer, yet KSeF
        # counts it (and may have processed the first): every request must be ours to count and to
        # retry. aiohttp's own test client turns it off the same way (no public switch exists).
        if getattr(self._http, "_retry_connection", False):
            self._http._retry_connection = False
        return self._http

    # ---- transport -------------------------------------------------------------------------

    async def _raw(
        self,
        method: str,
        url: str,
        *,
        group: str | None,
        bearer: str | None = None,
        json_body: Any = None,
        data: bytes | None = None,
        headers: dict[str, str] | None = None,
        params: dict[str, Any] | None = None,
        expected: tuple[int, ...] = (200,),
    ) -> tuple[int, Any, bytes]:
        """One HTTP exchange → (status, headers, body). Raises the typed errors; retries 429
        (a definite "not processed") after honouring `Retry-After` in the pacer."""
        hdrs = {"Accept": "application/json"}
        if bearer:
            hdrs["Authorization"] = f"Bearer {bearer}"
        if headers:
            hdrs.update(headers)
        for attempt in range(RETRY_429_MAX + 1):
            stamp = await self.pacer.acquire(group) if group is not None else None
            try:
                async with self._session().request(
                    method, url, json=json_body, data=data, headers=hdrs, params=params
                ) as resp:
                    body = await resp.read()
                    status, resp_headers = resp.status, resp.headers
                    SYSTEM_WARNINGS.note(resp_headers, url.split("?")[0])
            except (aiohttp.ClientError, asyncio.TimeoutError, ConnectionError) as exc:
                raise KsefUnavailable(f"{method} {url.split('?')[0]}: {type(exc).__name__}: {exc}") from exc
            finally:
                if stamp is not None:
                    self.pacer.settle(group, stamp)  # type: ignore[arg-type]
            if status in expected:
                return status, resp_headers, body
            retry_after = _retry_after(resp_headers)
            # 5xx and 408 (a gateway or KSeF gave up waiting): the request may or may not have been
            # processed, so it is "outcome unknown", never a refusal that would reject the invoice.
            if status >= 500 or status == 408:
                raise KsefUnavailable(f"{method} {url.split('?')[0]}: HTTP {status}", status=status,
                                      retry_after=retry_after)
            try:
                parsed = json.loads(body) if body else None
            except ValueError:
                parsed = body.decode("utf-8", "replace")
            codes, message = _codes(parsed)
            if status == 429:
                self.throttled += 1
            if status == 429 and group is not None:
                self.pacer.block(group, retry_after if retry_after is not None else 1.0)
                log.warning("KSeF 429 on %s %s, retry after %ss", method, group, retry_after)
                if attempt < RETRY_429_MAX:
                    continue
            raise KsefHttpError(status, codes, retry_after, message)
        raise AssertionError("unreachable")

    async def _api(self, method: str, path: str, *, group: str, auth: bool = True,
                   expected: tuple[int, ...] = (200,), **kw: Any) -> tuple[int, Any, bytes]:
        url = self.env.api_base + path
        if not auth:
            return await self._raw(method, url, group=group, expected=expected, **kw)
        token = await self.access_token()
        try:
            return await self._raw(method, url, group=group, bearer=token, expected=expected, **kw)
        except KsefHttpError as exc:
            if exc.status != 401:
                raise
            self._tokens = None  # revoked or expired early: authenticate again, once
            token = await self.access_token()
            return await self._raw(method, url, group=group, bearer=token, expected=expected, **kw)

    async def _json(self, method: str, path: str, **kw: Any) -> Any:
        _, _, body = await self._api(method, path, **kw)
        try:
            return json.loads(body) if body else {}
        except ValueError as exc:
            raise KsefProtocolError(f"{method} {path}: answer is not JSON") from exc

    # ---- MF public keys ----------------------------------------------------------------------

    async def public_keys(self, *, refresh: bool = False) -> list[MfPublicKey]:
        return await self._keys.get(self._fetch_public_keys, self.clock.now(), refresh=refresh)

    async def _fetch_public_keys(self) -> list[MfPublicKey]:
        body = await self._json("GET", "/security/public-key-certificates", group="other", auth=False)
        if not isinstance(body, list):
            raise KsefProtocolError("GET /security/public-key-certificates: answer is not a list")
        return [MfPublicKey.from_api(item) for item in body]

    async def _key(self, usage: str, *, refresh: bool = False) -> MfPublicKey:
        return pick_public_key(await self.public_keys(refresh=refresh), usage, self.clock.now())

    async def _with_key(self, usage: str, call: Callable[[MfPublicKey], Any]) -> Any:
        """Run `call(key)`; on 21470 (key rotated away) refetch the keys and try once more."""
        try:
            return await call(await self._key(usage))
        except KsefHttpError as exc:
            if UNKNOWN_KEY_CODE not in exc.codes:
                raise
            log.info("KSeF rejected the MF key id (21470): refetching public keys")
            return await call(await self._key(usage, refresh=True))

    # ---- authentication ----------------------------------------------------------------------

    async def access_token(self) -> str:
        """A valid access token: cached, refreshed shortly before expiry, or a new login."""
        async with self._auth_lock:
            now = self.clock.now()
            tokens = self._tokens
            if tokens and (tokens.access_valid_until - now).total_seconds() > REFRESH_BEFORE_S:
                return tokens.access
            if tokens and (tokens.refresh_valid_until is None or tokens.refresh_valid_until > now):
                try:
                    body = json.loads((await self._raw(
                        "POST", self.env.api_base + "/auth/token/refresh", group="other",
                        bearer=tokens.refresh))[2])
                    tokens.access = body["accessToken"]["token"]
                    tokens.access_valid_until = parse_datetime(body["accessToken"]["validUntil"]) or now
                    return tokens.access
                except KsefHttpError:
                    log.info("KSeF refused the refresh token; authenticating again")
            self._tokens = await self._authenticate()
            return self._tokens.access

    async def _authenticate(self) -> _Tokens:
        async def init(key: MfPublicKey) -> dict:
            challenge = await self._json("POST", "/auth/challenge", group=None, auth=False)
            encrypted = encrypt_ksef_token(key, self._token_provider(), int(challenge["timestampMs"]))
            return await self._json(
                "POST", "/auth/ksef-token", group="other", auth=False, expected=(202,),
                json_body={"challenge": challenge["challenge"], "contextIdentifier": self.context.to_api(),
                           "encryptedToken": encrypted, "publicKeyId": key.public_key_id})

        started = await self._with_key(USAGE_TOKEN, init)
        op_token = started["authenticationToken"]["token"]
        ref = started["referenceNumber"]
        delay = 0.2
        for _ in range(AUTH_POLL_MAX):
            _, _, raw = await self._raw("GET", f"{self.env.api_base}/auth/{ref}", group="other", bearer=op_token)
            status = json.loads(raw)["status"]
            if status["code"] == 200:
                break
            if status["code"] != 100:
                details = "; ".join(status.get("details") or [])
                raise KsefAuthError(f"KSeF refused authentication: {status['code']} {status.get('description', '')}"
                                    f"{' (' + details + ')' if details else ''}; check the KSeF token in custody "
                                    f"and its permissions (InvoiceWrite) for context {self.context.value}")
            await self.clock.sleep(delay)
            delay = min(delay * 2, 5.0)
        else:
            raise KsefUnavailable("KSeF authentication did not finish in time")
        _, _, raw = await self._raw("POST", f"{self.env.api_base}/auth/token/redeem", group="other", bearer=op_token)
        body = json.loads(raw)
        return _Tokens(
            access=body["accessToken"]["token"],
            access_valid_until=parse_datetime(body["accessToken"]["validUntil"]) or self.clock.now(),
            refresh=body["refreshToken"]["token"],
            refresh_valid_until=parse_datetime(body["refreshToken"].get("validUntil")),
        )

    # ---- online session ----------------------------------------------------------------------

    async def open_online_session(self) -> OnlineSession:
        key = SymmetricKey.generate()

        async def call(mf: MfPublicKey) -> dict:
            return await self._json("POST", "/sessions/online", group="onlineSession", expected=(201,),
                                    json_body={"formCode": FA3_FORM_CODE, "encryption": key.encryption_info(mf)})

        body = await self._with_key(USAGE_SYMMETRIC, call)
        return OnlineSession(body["referenceNumber"], parse_datetime(body.get("validUntil")), key)

    async def send_invoice(self, session: OnlineSession, xml: bytes, *, offline_mode: bool = True,
                           hash_of_corrected_invoice: str | None = None) -> str:
        """Send one invoice; returns its invoice reference number (validation is asynchronous)."""
        encrypted = session.key.encrypt(xml)
        payload = {
            "invoiceHash": sha256_b64(xml),
            "invoiceSize": len(xml),
            "encryptedInvoiceHash": sha256_b64(encrypted),
            "encryptedInvoiceSize": len(encrypted),
            "encryptedInvoiceContent": base64.b64encode(encrypted).decode("ascii"),
            "offlineMode": offline_mode,
        }
        if hash_of_corrected_invoice is not None:
            payload["hashOfCorrectedInvoice"] = hash_of_corrected_invoice
        body = await self._json("POST", f"/sessions/online/{session.reference_number}/invoices",
                                group="invoiceSend", expected=(202,), json_body=payload)
        return str(body["referenceNumber"])

    async def close_online_session(self, reference_number: str) -> None:
        await self._api("POST", f"/sessions/online/{reference_number}/close", group="onlineSession",
                        expected=(204, 200))

    # ---- batch session -----------------------------------------------------------------------

    async def open_batch_session(self, package: BatchPackage, *, offline_mode: bool = True) -> BatchSession:
        async def call(mf: MfPublicKey) -> dict:
            return await self._json("POST", "/sessions/batch", group="batchSession", expected=(201,),
                                    json_body={"formCode": FA3_FORM_CODE, "batchFile": package.file_info(),
                                               "encryption": package.key.encryption_info(mf),
                                               "offlineMode": offline_mode})

        body = await self._with_key(USAGE_SYMMETRIC, call)
        uploads = tuple(
            PartUpload(int(p["ordinalNumber"]), str(p.get("method", "PUT")), str(p["url"]),
                       {k: v for k, v in (p.get("headers") or {}).items() if v is not None})
            for p in body["partUploadRequests"])
        return BatchSession(str(body["referenceNumber"]), uploads)

    async def upload_part(self, upload: PartUpload, data: bytes) -> None:
        """PUT one encrypted part to its pre-signed URL: no access token, not rate-limited."""
        await self._raw(upload.method, upload.url, group=None, data=data, headers=upload.headers,
                        expected=(200, 201))

    async def close_batch_session(self, reference_number: str) -> None:
        await self._api("POST", f"/sessions/batch/{reference_number}/close", group="batchSession",
                        expected=(204, 200))

    # ---- statuses and UPO ----------------------------------------------------------------------

    async def session_status(self, reference_number: str) -> SessionStatus:
        return SessionStatus.from_api(await self._json("GET", f"/sessions/{reference_number}", group="sessionMisc"))

    async def session_invoices(self, reference_number: str, *, page_size: int = 1000) -> list[InvoiceStatus]:
        """Every invoice KSeF holds for the session (all pages)."""
        out: list[InvoiceStatus] = []
        token: str | None = None
        while True:
            headers = {"x-continuation-token": token} if token else None
            body = await self._json("GET", f"/sessions/{reference_number}/invoices", group="sessionInvoiceList",
                                    params={"pageSize": page_size}, headers=headers)
            out.extend(InvoiceStatus.from_api(i) for i in body.get("invoices") or ())
            token = body.get("continuationToken")
            if not token:
                return out

    async def invoice_status(self, session_ref: str, invoice_ref: str) -> InvoiceStatus:
        return InvoiceStatus.from_api(
            await self._json("GET", f"/sessions/{session_ref}/invoices/{invoice_ref}", group="invoiceStatus"))

    async def invoice_upo(self, session_ref: str, invoice_ref: str) -> Upo:
        _, headers, body = await self._api("GET", f"/sessions/{session_ref}/invoices/{invoice_ref}/upo",
                                           group="sessionMisc", headers={"Accept": "application/xml"})
        return self._checked_upo(body, headers)

    async def invoice_upo_by_ksef_number(self, session_ref: str, ksef_number: str) -> Upo:
        _, headers, body = await self._api("GET", f"/sessions/{session_ref}/invoices/ksef/{ksef_number}/upo",
                                           group="sessionMisc", headers={"Accept": "application/xml"})
        return self._checked_upo(body, headers)

    async def download_upo(self, url: str) -> Upo:
        """UPO from a pre-signed `upoDownloadUrl` (plain GET, no token, not rate-limited)."""
        _, headers, body = await self._raw("GET", url, group=None, headers={"Accept": "application/xml"})
        return self._checked_upo(body, headers)

    @staticmethod
    def _checked_upo(body: bytes, headers: Any) -> Upo:
        declared = headers.get("x-ms-meta-hash")
        if declared is not None and declared != sha256_b64(body):
            raise KsefProtocolError("UPO does not match its x-ms-meta-hash header (corrupted download)")
        return Upo(body, declared)

    # ---- reading invoices back (issue #25: rebuild a lost till's records) ------------------------

    async def query_invoice_metadata(self, filters: dict[str, Any], *, page_offset: int = 0,
                                     page_size: int = 250, sort_order: str = "Asc") -> dict[str, Any]:
        """POST /invoices/query/metadata: one page of the seller's invoices (group invoiceMetadata, 20/h)."""
        body = await self._json("POST", "/invoices/query/metadata", group="invoiceMetadata", json_body=filters,
                                params={"pageOffset": page_offset, "pageSize": page_size, "sortOrder": sort_order})
        if not isinstance(body, dict) or not isinstance(body.get("invoices"), list):
            raise KsefProtocolError("POST /invoices/query/metadata: answer has no invoices list")
        return body

    async def download_invoice(self, ksef_number: str) -> bytes:
        """GET /invoices/ksef/{ksefNumber}: the file KSeF holds, checked against x-ms-meta-hash."""
        _, headers, body = await self._api("GET", f"/invoices/ksef/{ksef_number}", group="invoiceDownload",
                                           headers={"Accept": "application/xml"})
        declared = headers.get("x-ms-meta-hash")
        if declared is not None and declared != sha256_b64(body):
            raise KsefProtocolError(f"invoice {ksef_number} does not match its x-ms-meta-hash (corrupted download)")
        return bytes(body)

    # ---- limits and availability -------------------------------------------------------------

    async def rate_limits(self) -> dict[str, Limit]:
        body = await self._json("GET", "/rate-limits", group="other")
        return {group: Limit.from_api(v) for group, v in body.items() if isinstance(v, dict)}

    async def latarnia_status(self) -> LatarniaStatus:
        if not self.env.latarnia_base:
            raise KsefUnavailable(f"environment {self.env.name} has no Latarnia")
        base = self.env.latarnia_base.rstrip("/")
        _, _, body = await self._raw("GET", base + "/status", group=None)
        try:
            status = LatarniaStatus.from_api(json.loads(body))
        except ValueError as exc:
            raise KsefProtocolError("Latarnia status is not JSON") from exc
        # /status carries only the event in progress; /messages also has the ended ones (their end dates
        # are what moves deadlines), so both are read
        _, _, body = await self._raw("GET", base + "/messages", group=None)
        try:
            history = [LatarniaMessage.from_api(m) for m in json.loads(body) if isinstance(m, dict)]
        except (ValueError, TypeError) as exc:
            raise KsefProtocolError("Latarnia messages are not a JSON list") from exc
        seen = {m.id for m in status.messages}
        return LatarniaStatus(status.status, status.messages + tuple(m for m in history if m.id not in seen))
