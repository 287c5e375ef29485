"""Records the simulator keeps (plain dataclasses, JSON-serialisable for the state directory)."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class KsefTokenRecord:
    token_sha256: str          # only a hash of the secret is kept
    nip: str
    reference_number: str      # the token's own KSeF reference (infix EC), used in UPO


@dataclass
class Challenge:
    challenge: str
    timestamp_ms: int
    used: bool = False


@dataclass
class AuthOperation:
    reference_number: str
    start_date: str
    context_type: str
    context_value: str
    status_code: int
    status_description: str
    status_details: list[str] = field(default_factory=list)
    token_reference: str | None = None
    redeemed: bool = False
    last_refresh: str | None = None
    refresh_valid_until: str | None = None
    method: str = "Token"                 # Token | XadesSignature
    auth_document_hash: str | None = None  # Base64 SHA-256 of the signed AuthTokenRequest (XAdES)
    revoked: bool = False                 # DELETE /auth/sessions/...: its tokens stop working


@dataclass
class Session:
    reference_number: str
    kind: str                  # "online" | "batch"
    nip: str
    token_reference: str
    date_created: str
    date_updated: str
    valid_until: str
    aes_key_b64: str | None    # None when the wrapped key did not decrypt (status 415)
    iv_b64: str
    status_code: int = 100
    status_description: str = ""
    status_details: list[str] = field(default_factory=list)
    offline_mode: bool = False # batch: applies to every invoice
    batch_file: dict | None = None
    parts_uploaded: list[int] = field(default_factory=list)
    upo_reference: str | None = None
    invoice_count: int = 0


@dataclass
class InvoiceRecord:
    reference_number: str
    session_reference: str
    ordinal: int
    invoice_hash: str
    invoicing_date: str
    offline_mode: bool
    status_code: int
    status_description: str
    xml_b64: str | None = None             # kept until processed (survives restarts)
    hash_of_corrected: str | None = None
    details: list[str] = field(default_factory=list)
    extensions: dict | None = None
    ksef_number: str | None = None
    acquisition_date: str | None = None
    permanent_storage_date: str | None = None
    invoicing_mode: str | None = None
    invoice_number: str | None = None   # P_2
    invoice_kind: str | None = None     # RodzajFaktury
    seller_nip: str | None = None
    issue_date: str | None = None
    file_name: str | None = None
