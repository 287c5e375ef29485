"""A small, independent KSeF 2.0 client for tests, written from protocol.md and the official
open-api.json — it must NOT import ksef_sim, so it checks the simulator against the protocol.

Every exchange with the KSeF API (base URL ending in /v2) can be validated against open-api.json
with openapi-core (`ContractChecker`); storage (pre-signed URLs) and Latarnia are outside the spec.
Other engineers may reuse it to drive the simulator (or a real KSeF TEST environment).
"""
from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import json
import os
import zipfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import padding as sym_padding
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

SPEC_PATH = Path(__file__).resolve().parent.parent / "daemon" / "ksef_sim" / "open-api.json"
FORM_CODE_FA3 = {"systemCode": "FA (3)", "schemaVersion": "1-0E", "value": "FA"}
OAEP = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
TERMINAL_INVOICE = lambda code: code not in (100, 150)  # noqa: E731


def sha256_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode("ascii")


# --- contract validation -----------------------------------------------------------------------------

@dataclass
class _Req:
    host_url: str
    path: str
    method: str
    parameters: Any
    content_type: str
    body: bytes | None

    @property
    def full_url_pattern(self) -> str:
        return self.host_url + self.path


@dataclass
class _Resp:
    data: bytes
    status_code: int
    content_type: str
    headers: Any


class ContractChecker:
    """Validates requests and responses of one API base URL against the official open-api.json."""

    def __init__(self, api_base: str, spec_path: Path = SPEC_PATH) -> None:
        from openapi_core import Config, OpenAPI

        spec = json.loads(spec_path.read_text(encoding="utf-8"))
        spec["servers"] = [{"url": api_base.rstrip("/")}]
        self.api_base = api_base.rstrip("/")
        self.openapi = OpenAPI.from_dict(spec, config=Config(
            spec_validator_cls=None,
            extra_media_type_deserializers={
                "application/problem+json": lambda data, **_: json.loads(data),
                # the spec types UPO downloads as a string; the XML itself is checked against the XSD
                "application/xml": lambda data, **_: data.decode("utf-8") if isinstance(data, bytes) else data,
            }))
        self.checked = 0

    def covers(self, url: str) -> bool:
        return url.startswith(self.api_base + "/")

    def check(self, method: str, url: str, req_headers: dict, req_body: bytes | None,
              status: int, resp_headers: dict, resp_body: bytes, *, validate_request: bool = True) -> None:
        from openapi_core.datatypes import RequestParameters
        from werkzeug.datastructures import Headers, ImmutableMultiDict

        parts = urlsplit(url)
        query = ImmutableMultiDict([tuple(kv.split("=", 1)) for kv in parts.query.split("&") if "=" in kv])
        params = RequestParameters(query=query, header=Headers(list(req_headers.items())),
                                   cookie=ImmutableMultiDict())
        req = _Req(f"{parts.scheme}://{parts.netloc}", parts.path, method.lower(), params,
                   req_headers.get("Content-Type", "application/json"), req_body)
        if validate_request:
            self._raise("request", method, url, self.openapi.validate_request, req)
        content_type = resp_headers.get("Content-Type", "").split(";")[0].strip()
        resp = _Resp(resp_body, status, content_type, Headers(list(resp_headers.items())))
        self._raise(f"response {status}", method, url, lambda r: self.openapi.validate_response(r, resp), req)
        self.checked += 1

    @staticmethod
    def _raise(what: str, method: str, url: str, fn, req) -> None:
        try:
            fn(req)
        except Exception as exc:  # openapi-core raises several error classes
            cause = exc.__cause__ or exc
            details = getattr(cause, "schema_errors", None) or [cause]
            raise AssertionError(f"{what} of {method} {url} violates open-api.json: {exc!r}: "
                                 + "; ".join(str(d)[:300] for d in details)) from exc


# --- HTTP --------------------------------------------------------------------------------------------

@dataclass
class ApiResponse:
    status: int
    headers: dict
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def exception_codes(self) -> list[int]:
        """exceptionCode values of a 400 ExceptionResponse."""
        return [d["exceptionCode"] for d in self.json()["exception"]["exceptionDetailList"]]


class KsefApiError(Exception):
    def __init__(self, response: ApiResponse, what: str) -> None:
        super().__init__(f"{what}: HTTP {response.status} {response.body[:500]!r}")
        self.response = response


@dataclass
class Tokens:
    access: str
    refresh: str
    access_valid_until: str
    refresh_valid_until: str


@dataclass
class SessionCrypto:
    """AES-256 key + IV of one session (protocol.md §4.1)."""

    key: bytes = field(default_factory=lambda: os.urandom(32))
    iv: bytes = field(default_factory=lambda: os.urandom(16))

    def encrypt(self, plain: bytes) -> bytes:
        padder = sym_padding.PKCS7(128).padder()
        padded = padder.update(plain) + padder.finalize()
        enc = Cipher(algorithms.AES(self.key), modes.CBC(self.iv)).encryptor()
        return enc.update(padded) + enc.finalize()

    def encryption_info(self, cert: dict) -> dict:
        public = x509.load_der_x509_certificate(base64.b64decode(cert["certificate"])).public_key()
        return {"encryptedSymmetricKey": base64.b64encode(public.encrypt(self.key, OAEP)).decode(),
                "initializationVector": base64.b64encode(self.iv).decode(),
                "publicKeyId": cert["publicKeyId"]}


class KsefTestClient:
    """Async KSeF client. `api_base` like http://127.0.0.1:PORT/v2; `checker` validates each exchange."""

    def __init__(self, api_base: str, *, checker: ContractChecker | None = None,
                 timeout_s: float = 10.0) -> None:
        self.api_base = api_base.rstrip("/")
        self.checker = checker
        self.timeout_s = timeout_s
        self.http = aiohttp.ClientSession()
        self.tokens: Tokens | None = None
        self._certs: list[dict] | None = None

    async def close(self) -> None:
        await self.http.close()

    async def __aenter__(self) -> "KsefTestClient":
        return self

    async def __aexit__(self, *exc) -> None:
        await self.close()

    async def request(self, method: str, path_or_url: str, *, json_body: Any = None, data: bytes | None = None,
                      headers: dict | None = None, bearer: str | None = "access",
                      timeout_s: float | None = None, validate_request: bool = True) -> ApiResponse:
        """One HTTP exchange. `bearer`: "access", "refresh", None, or a literal token.
        `validate_request=False` for deliberately malformed requests (the response is still checked)."""
        url = path_or_url if "://" in path_or_url else self.api_base + path_or_url
        hdrs = dict(headers or {})
        token = {"access": self.tokens.access if self.tokens else None,
                 "refresh": self.tokens.refresh if self.tokens else None}.get(bearer or "", bearer)
        if token:
            hdrs["Authorization"] = f"Bearer {token}"
        body = data
        if json_body is not None:
            body = json.dumps(json_body).encode()
            hdrs["Content-Type"] = "application/json"
        timeout = aiohttp.ClientTimeout(total=timeout_s or self.timeout_s)
        async with self.http.request(method, url, data=body, headers=hdrs, timeout=timeout) as resp:
            payload = await resp.read()
            result = ApiResponse(resp.status, dict(resp.headers), payload)
        if self.checker is not None and self.checker.covers(url) and result.status < 500:
            self.checker.check(method, url, hdrs, body, result.status, result.headers, payload,
                               validate_request=validate_request)
        return result

    async def expect(self, status: int, method: str, path: str, **kw) -> ApiResponse:
        resp = await self.request(method, path, **kw)
        if resp.status != status:
            raise KsefApiError(resp, f"{method} {path} expected {status}")
        return resp

    # --- keys and auth (protocol.md §2, §3) -----------------------------------------------------
    async def certificates(self) -> list[dict]:
        if self._certs is None:
            self._certs = (await self.expect(200, "GET", "/security/public-key-certificates", bearer=None)).json()
        return self._certs

    async def key_for(self, usage: str) -> dict:
        """Certificate with `usage`, valid now, latest validFrom (protocol.md §3 selection rule)."""
        now = datetime.now().astimezone()
        valid = [c for c in await self.certificates() if usage in c["usage"]
                 and datetime.fromisoformat(c["validFrom"]) <= now <= datetime.fromisoformat(c["validTo"])]
        return max(valid, key=lambda c: c["validFrom"])

    async def start_token_auth(self, nip: str, ksef_token: str, *, challenge: dict | None = None,
                               timestamp_ms: int | None = None) -> ApiResponse:
        """POST /auth/ksef-token; returns the raw response (202 with referenceNumber + operation token)."""
        if challenge is None:
            challenge = (await self.expect(200, "POST", "/auth/challenge", bearer=None)).json()
        cert = await self.key_for("KsefTokenEncryption")
        public = x509.load_der_x509_certificate(base64.b64decode(cert["certificate"])).public_key()
        plain = f"{ksef_token}|{timestamp_ms if timestamp_ms is not None else challenge['timestampMs']}"
        encrypted = base64.b64encode(public.encrypt(plain.encode(), OAEP)).decode()
        return await self.request("POST", "/auth/ksef-token", bearer=None, json_body={
            "challenge": challenge["challenge"], "contextIdentifier": {"type": "Nip", "value": nip},
            "encryptedToken": encrypted, "publicKeyId": cert["publicKeyId"]})

    async def wait_auth(self, reference: str, operation_token: str, timeout_s: float = 10.0) -> dict:
        deadline = asyncio.get_running_loop().time() + timeout_s
        while True:
            status = (await self.expect(200, "GET", f"/auth/{reference}", bearer=operation_token)).json()
            if status["status"]["code"] != 100 or asyncio.get_running_loop().time() > deadline:
                return status
            await asyncio.sleep(0.02)

    async def authenticate(self, nip: str, ksef_token: str) -> Tokens:
        init = await self.start_token_auth(nip, ksef_token)
        if init.status != 202:
            raise KsefApiError(init, "POST /auth/ksef-token")
        body = init.json()
        op_token = body["authenticationToken"]["token"]
        status = await self.wait_auth(body["referenceNumber"], op_token)
        if status["status"]["code"] != 200:
            raise RuntimeError(f"authentication failed: {status['status']}")
        tokens = (await self.expect(200, "POST", "/auth/token/redeem", bearer=op_token)).json()
        self.tokens = Tokens(tokens["accessToken"]["token"], tokens["refreshToken"]["token"],
                             tokens["accessToken"]["validUntil"], tokens["refreshToken"]["validUntil"])
        return self.tokens

    async def refresh(self) -> str:
        assert self.tokens is not None
        body = (await self.expect(200, "POST", "/auth/token/refresh", bearer="refresh")).json()
        self.tokens.access = body["accessToken"]["token"]
        return self.tokens.access

    # --- online session (protocol.md §4.2-4.5) ---------------------------------------------------
    async def open_online(self, crypto: SessionCrypto | None = None) -> tuple[str, SessionCrypto]:
        crypto = crypto or SessionCrypto()
        cert = await self.key_for("SymmetricKeyEncryption")
        resp = await self.expect(201, "POST", "/sessions/online",
                                 json_body={"formCode": FORM_CODE_FA3, "encryption": crypto.encryption_info(cert)})
        return resp.json()["referenceNumber"], crypto

    @staticmethod
    def invoice_payload(crypto: SessionCrypto, xml: bytes, *, offline_mode: bool = False,
                        hash_of_corrected: str | None = None) -> dict:
        encrypted = crypto.encrypt(xml)
        body = {"invoiceHash": sha256_b64(xml), "invoiceSize": len(xml),
                "encryptedInvoiceHash": sha256_b64(encrypted), "encryptedInvoiceSize": len(encrypted),
                "encryptedInvoiceContent": base64.b64encode(encrypted).decode(), "offlineMode": offline_mode}
        if hash_of_corrected is not None:
            body["hashOfCorrectedInvoice"] = hash_of_corrected
        return body

    async def send_invoice(self, session_ref: str, crypto: SessionCrypto, xml: bytes, **kw) -> str:
        resp = await self.expect(202, "POST", f"/sessions/online/{session_ref}/invoices",
                                 json_body=self.invoice_payload(crypto, xml, **kw))
        return resp.json()["referenceNumber"]

    async def close_online(self, session_ref: str) -> None:
        await self.expect(204, "POST", f"/sessions/online/{session_ref}/close")

    async def invoice_status(self, session_ref: str, invoice_ref: str) -> dict:
        return (await self.expect(200, "GET", f"/sessions/{session_ref}/invoices/{invoice_ref}")).json()

    async def wait_invoice(self, session_ref: str, invoice_ref: str, timeout_s: float = 10.0) -> dict:
        deadline = asyncio.get_running_loop().time() + timeout_s
        while True:
            status = await self.invoice_status(session_ref, invoice_ref)
            if TERMINAL_INVOICE(status["status"]["code"]) or asyncio.get_running_loop().time() > deadline:
                return status
            await asyncio.sleep(0.02)

    async def session_status(self, session_ref: str) -> dict:
        return (await self.expect(200, "GET", f"/sessions/{session_ref}")).json()

    async def wait_session(self, session_ref: str, pending=(100, 150, 170), timeout_s: float = 30.0) -> dict:
        deadline = asyncio.get_running_loop().time() + timeout_s
        while True:
            status = await self.session_status(session_ref)
            if status["status"]["code"] not in pending or asyncio.get_running_loop().time() > deadline:
                return status
            await asyncio.sleep(0.05)

    async def all_invoices(self, session_ref: str, *, failed: bool = False, page_size: int = 100) -> list[dict]:
        items, token = [], None
        path = f"/sessions/{session_ref}/invoices" + ("/failed" if failed else "")
        while True:
            headers = {"x-continuation-token": token} if token else None
            body = (await self.expect(200, "GET", f"{path}?pageSize={page_size}", headers=headers)).json()
            items += body["invoices"]
            token = body.get("continuationToken")
            if not token:
                return items

    async def invoice_upo(self, session_ref: str, invoice_ref: str) -> ApiResponse:
        return await self.expect(200, "GET", f"/sessions/{session_ref}/invoices/{invoice_ref}/upo")

    async def invoice_upo_by_ksef_number(self, session_ref: str, ksef_number: str) -> ApiResponse:
        return await self.expect(200, "GET", f"/sessions/{session_ref}/invoices/ksef/{ksef_number}/upo")

    async def session_upo(self, session_ref: str, upo_ref: str) -> ApiResponse:
        return await self.expect(200, "GET", f"/sessions/{session_ref}/upo/{upo_ref}")

    # --- batch session (protocol.md §4.6) ---------------------------------------------------------
    async def send_batch(self, files: dict[str, bytes], *, parts: int = 1, offline_mode: bool = False,
                         crypto: SessionCrypto | None = None) -> str:
        """ZIP `files`, split into `parts`, encrypt each, open, upload (PUT, no token), close."""
        crypto = crypto or SessionCrypto()
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            for name, data in files.items():
                zf.writestr(name, data)
        archive = buf.getvalue()
        step = -(-len(archive) // parts)
        encrypted = [crypto.encrypt(archive[i:i + step]) for i in range(0, len(archive), step)]
        cert = await self.key_for("SymmetricKeyEncryption")
        body = {"formCode": FORM_CODE_FA3, "offlineMode": offline_mode,
                "batchFile": {"fileSize": len(archive), "fileHash": sha256_b64(archive),
                              "fileParts": [{"ordinalNumber": n, "fileSize": len(p), "fileHash": sha256_b64(p)}
                                            for n, p in enumerate(encrypted, start=1)]},
                "encryption": crypto.encryption_info(cert)}
        opened = (await self.expect(201, "POST", "/sessions/batch", json_body=body)).json()
        for upload in opened["partUploadRequests"]:
            data = encrypted[upload["ordinalNumber"] - 1]
            resp = await self.request(upload["method"], upload["url"], data=data, headers=upload["headers"],
                                      bearer=None)
            if resp.status != 201:
                raise KsefApiError(resp, f"part {upload['ordinalNumber']} upload")
        await self.expect(204, "POST", f"/sessions/batch/{opened['referenceNumber']}/close")
        return opened["referenceNumber"]


# --- test data -----------------------------------------------------------------------------------------

TEMPLATE = Path(__file__).resolve().parent / "fixtures" / "official" / "invoice-template-fa-3.xml"


def template_invoice(number: int | str, nip: str = "5265877635") -> bytes:
    """The official C# client FA(3) template with its placeholders filled (valid FA(3), TV-9)."""
    text = TEMPLATE.read_text(encoding="utf-8")
    return text.replace("#nip#", nip).replace("#invoice_number#", str(number)).encode("utf-8")
