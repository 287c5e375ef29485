"""Rows and errors of the outbox, shared by the API, the printer callback and the uplink."""
from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass


class InvoiceState(str, enum.Enum):
    ISSUED = "issued"  # stored locally, waiting for upload
    SENDING = "sending"  # in an open KSeF session (refs stored before the request)
    ACCEPTED = "accepted"  # KSeF number known
    CONFIRMED = "confirmed"  # UPO stored
    REJECTED = "rejected"  # KSeF refused it: needs a technical correction (alarm)


class PrintState(str, enum.Enum):
    PENDING = "pending"
    PRINTING = "printing"
    PRINTED = "printed"
    FAILED_RETRYING = "failed_retrying"  # printer trouble; the print queue keeps retrying
    FAILED = "failed"  # given up (unprintable or attempts exhausted); a reprint request retries


@dataclass(frozen=True)
class NewInvoice:
    """What the issuance pipeline produced for one allocated number, ready to insert."""

    number: str
    xml: bytes
    sha256: bytes
    issue_date: dt.date
    kod1_url: str | None
    kod2_url: str | None
    cert_serial: str | None
    offline_mode: str
    deadline: dt.date | None
    kind: str = "VAT"  # "KOR" for a correction invoice (set by `OutboxStore.issue_correction`)
    correction_request_json: str | None = None  # KOR only: the normalised request, folded by later corrections


@dataclass(frozen=True)
class CorrectionContext:
    """What a correction is built from, read inside the transaction that allocates its number, so two
    concurrent returns of the same invoice cannot both take its last unit."""

    original: InvoiceRecord  # with `xml` filled
    original_request_json: str  # the POS request the original was issued from
    prior_requests: tuple[str, ...]  # stored requests of earlier corrections of it, in issue order


@dataclass(frozen=True)
class InvoiceRecord:
    id: int
    series: str
    seq: int
    number: str
    sha256: bytes
    issue_date: dt.date
    created_at: dt.datetime
    kod1_url: str | None
    kod2_url: str | None
    cert_serial: str | None
    offline_mode: str
    deadline: dt.date | None
    state: InvoiceState
    print_state: PrintState
    idempotency_key: str
    request_hash: str
    updated_at: dt.datetime
    ksef_session_ref: str | None = None
    ksef_invoice_ref: str | None = None
    ksef_number: str | None = None
    upo: bytes | None = None
    reject_code: str | None = None
    reject_reason: str | None = None
    print_error: str | None = None
    xml: bytes | None = None  # filled only by calls that need the bytes (get_xml, list_for_upload)
    kind: str = "VAT"  # "VAT" (an invoice) or "KOR" (a correction invoice)
    corrects_id: int | None = None  # KOR: id of the corrected invoice


@dataclass(frozen=True)
class TechnicalCorrection:
    """The file KSeF accepted in place of a rejected invoice (`OutboxStore.record_correction`)."""

    invoice_id: int
    xml: bytes
    sha256: bytes
    kod1_url: str | None
    kod2_url: str | None
    cert_serial: str | None
    ksef_number: str
    upo: bytes | None  # None while KSeF's UPO of the accepted correction is still to be fetched
    session_ref: str
    invoice_ref: str
    reject_code: str | None
    created_at: dt.datetime


class StoreError(Exception):
    """Base of outbox errors."""


class NotFoundError(StoreError):
    pass


class ClockBehindError(StoreError):
    """The wall clock is earlier than the last issued invoice: a Pi booted without RTC/NTP."""

    def __init__(self, now: dt.datetime, floor: dt.datetime) -> None:
        super().__init__(
            f"the system clock ({now.isoformat(timespec='seconds')}) is behind the last issued invoice "
            f"({floor.isoformat(timespec='seconds')}); set the correct time (NTP or RTC) before issuing"
        )
        self.now = now
        self.floor = floor


class IdempotencyConflictError(StoreError):
    """Same Idempotency-Key, different request body."""


class InvalidTransitionError(StoreError):
    """A state change that would break the invoice lifecycle (a bug in the caller)."""


class MigrationError(StoreError):
    """A schema migration failed; the database stays at its previous version."""


class SchemaTooNewError(StoreError):
    """The database was written by a newer release; this one cannot use it."""


class IntegrityCheckError(StoreError):
    """`PRAGMA quick_check` found corruption."""


class StorageFullError(StoreError):
    """The filesystem holding the database is full (SQLITE_FULL): the write was rolled back, nothing stored."""

    def __init__(self, directory: str, free_bytes: int | None) -> None:
        free = f" ({free_bytes // 1024} KiB free)" if free_bytes is not None else ""
        super().__init__(f"the device's disk is full: free space on {directory}{free}")
        self.directory = directory
        self.free_bytes = free_bytes
