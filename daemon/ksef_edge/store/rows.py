"""Rows of the `invoices` table <-> `InvoiceRecord`, and the small checks every write shares."""
from __future__ import annotations

import datetime as dt
import sqlite3

from .records import (
    InvalidTransitionError,
    InvoiceRecord,
    InvoiceState,
    PrintState,
)

COLUMNS = (
    "id, series, seq, number, sha256, issue_date, created_at, kod1_url, kod2_url, cert_serial, offline_mode, "
    "deadline, state, print_state, idempotency_key, request_hash, updated_at, ksef_session_ref, "
    "ksef_invoice_ref, ksef_number, upo, reject_code, reject_reason, print_error, kind, corrects_id"
)
I_COLUMNS = ", ".join(f"i.{c.strip()}" for c in COLUMNS.split(","))


def utc_text(ts: dt.datetime) -> str:
    if ts.tzinfo is None:
        raise ValueError("timestamps must be timezone-aware")
    return ts.astimezone(dt.timezone.utc).isoformat(timespec="microseconds")


# ids grow with time because issuing below the floor is refused, so the last row holds the floor
FLOOR_SQL = "SELECT created_at FROM invoices ORDER BY id DESC LIMIT 1"


def floor_sync(conn: sqlite3.Connection) -> dt.datetime | None:
    row = conn.execute(FLOOR_SQL).fetchone()
    return dt.datetime.fromisoformat(row[0]) if row else None


def by_key_sync(conn: sqlite3.Connection, key: str) -> InvoiceRecord | None:
    row = conn.execute(f"SELECT {COLUMNS} FROM invoices WHERE idempotency_key = ?", (key,)).fetchone()
    return record_from_row(row) if row else None


def require_text(value: object, name: str) -> None:
    if not isinstance(value, str) or not value.strip():
        raise InvalidTransitionError(f"{name} must be a non-empty string")


def require_upo(invoice_id: int, upo: object) -> None:
    if not isinstance(upo, (bytes, bytearray)) or not upo:
        raise InvalidTransitionError(f"invoice {invoice_id}: UPO must be non-empty bytes")


def record_from_row(row: sqlite3.Row | tuple, xml: bytes | None = None) -> InvoiceRecord:
    (
        id_, series, seq, number, sha256, issue_date, created_at, kod1, kod2, serial, mode, deadline, state,
        print_state, key, req_hash, updated_at, session_ref, inv_ref, ksef_number, upo, rcode, rreason, perr,
        kind, corrects_id,
    ) = row
    return InvoiceRecord(
        id=id_,
        series=series,
        seq=seq,
        number=number,
        sha256=bytes(sha256),
        issue_date=dt.date.fromisoformat(issue_date),
        created_at=dt.datetime.fromisoformat(created_at),
        kod1_url=kod1,
        kod2_url=kod2,
        cert_serial=serial,
        offline_mode=mode,
        deadline=dt.date.fromisoformat(deadline) if deadline else None,
        state=InvoiceState(state),
        print_state=PrintState(print_state),
        idempotency_key=key,
        request_hash=req_hash,
        updated_at=dt.datetime.fromisoformat(updated_at),
        ksef_session_ref=session_ref,
        ksef_invoice_ref=inv_ref,
        ksef_number=ksef_number,
        upo=bytes(upo) if upo is not None else None,
        reject_code=rcode,
        reject_reason=rreason,
        print_error=perr,
        xml=xml,
        kind=kind,
        corrects_id=corrects_id,
    )
