"""Typed views of the KSeF answers the uplink reads (field names as in the OpenAPI)."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from .errors import KsefProtocolError

FA3_FORM_CODE = {"systemCode": "FA (3)", "schemaVersion": "1-0E", "value": "FA"}


@dataclass(frozen=True)
class ContextIdentifier:
    """Authentication context, e.g. `ContextIdentifier("Nip", "5265877635")`."""

    type: str
    value: str

    def to_api(self) -> dict[str, str]:
        return {"type": self.type, "value": self.value}


@dataclass(frozen=True)
class Environment:
    """Where KSeF lives. `api_base` ends with `/v2`; Latarnia may be absent (DEMO)."""

    name: str
    api_base: str
    latarnia_base: str | None


ENVIRONMENTS: dict[str, Environment] = {
    "test": Environment("test", "https://api-test.ksef.mf.gov.pl/v2", "https://api-latarnia-test.ksef.mf.gov.pl"),
    "demo": Environment("demo", "https://api-demo.ksef.mf.gov.pl/v2", None),
    "prod": Environment("prod", "https://api.ksef.mf.gov.pl/v2", "https://api-latarnia.ksef.mf.gov.pl"),
}


def simulator_environment(base_url: str) -> Environment:
    """The local `ksef-sim` at `base_url` (e.g. `http://127.0.0.1:8080`), Latarnia on the same host."""
    root = base_url.rstrip("/")
    return Environment("simulator", f"{root}/v2", f"{root}/latarnia")


def environment_for(name: str, api_base_url: str) -> Environment:
    """The environment a device config names (`[ksef] environment`, `api_base_url`)."""
    if name == "simulator":
        return simulator_environment(api_base_url.rstrip("/").removesuffix("/v2"))
    return Environment(name, api_base_url.rstrip("/"), ENVIRONMENTS[name].latarnia_base)


def parse_datetime(text: str | None) -> dt.datetime | None:
    if not text:
        return None
    value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)


@dataclass(frozen=True)
class InvoiceStatus:
    """`SessionInvoiceStatusResponse`: one invoice of a session."""

    reference_number: str
    invoice_hash: str
    code: int
    description: str
    details: tuple[str, ...] = ()
    extensions: dict[str, str | None] = field(default_factory=dict)
    ksef_number: str | None = None
    invoice_number: str | None = None
    invoice_file_name: str | None = None
    upo_download_url: str | None = None
    upo_download_url_expires: dt.datetime | None = None  # pre-signed: useless after this

    @classmethod
    def from_api(cls, item: dict) -> "InvoiceStatus":
        try:
            status = item["status"]
            return cls(
                reference_number=str(item["referenceNumber"]),
                invoice_hash=str(item.get("invoiceHash") or ""),  # required, yet absent from MF's own example
                code=int(status["code"]),
                description=str(status.get("description", "")),
                details=tuple(status.get("details") or ()),
                extensions=dict(status.get("extensions") or {}),
                ksef_number=item.get("ksefNumber"),
                invoice_number=item.get("invoiceNumber"),
                invoice_file_name=item.get("invoiceFileName"),
                upo_download_url=item.get("upoDownloadUrl"),
                upo_download_url_expires=parse_datetime(item.get("upoDownloadUrlExpirationDate")),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise KsefProtocolError(f"invoice status is malformed: {exc}") from exc

    @property
    def reason(self) -> str:
        return "; ".join((f"{self.code} {self.description}", *self.details))


@dataclass(frozen=True)
class SessionStatus:
    code: int
    description: str
    invoice_count: int | None = None
    successful_invoice_count: int | None = None
    failed_invoice_count: int | None = None
    upo_pages: tuple[dict, ...] = ()

    @classmethod
    def from_api(cls, body: dict) -> "SessionStatus":
        try:
            status = body["status"]
            return cls(
                code=int(status["code"]),
                description=str(status.get("description", "")),
                invoice_count=body.get("invoiceCount"),
                successful_invoice_count=body.get("successfulInvoiceCount"),
                failed_invoice_count=body.get("failedInvoiceCount"),
                upo_pages=tuple((body.get("upo") or {}).get("pages") or ()),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise KsefProtocolError(f"session status is malformed: {exc}") from exc


@dataclass(frozen=True)
class LatarniaMessage:
    id: str
    event_id: int | None
    category: str
    type: str
    title: str
    start: dt.datetime | None
    end: dt.datetime | None

    @classmethod
    def from_api(cls, item: dict) -> "LatarniaMessage":
        return cls(
            id=str(item.get("id", "")),
            event_id=item.get("eventId"),
            category=str(item.get("category", "")),
            type=str(item.get("type", "")),
            title=str(item.get("title", "")),
            start=parse_datetime(item.get("start")),
            end=parse_datetime(item.get("end")),
        )


@dataclass(frozen=True)
class LatarniaStatus:
    """`AVAILABLE` | `MAINTENANCE` | `FAILURE` | `TOTAL_FAILURE` plus the announcements."""

    status: str
    messages: tuple[LatarniaMessage, ...] = ()

    @classmethod
    def from_api(cls, body: dict) -> "LatarniaStatus":
        return cls(
            status=str(body.get("status", "AVAILABLE")),
            messages=tuple(LatarniaMessage.from_api(m) for m in body.get("messages") or () if isinstance(m, dict)),
        )


@dataclass(frozen=True)
class Upo:
    """UPO XML exactly as downloaded, with the hash KSeF declared in `x-ms-meta-hash`."""

    xml: bytes
    declared_hash: str | None
