"""Structured log fields: journald fields under systemd, `key=value` pairs on a terminal.

Why: a fleet's log shipper (and `journalctl -o json`, `journalctl INVOICE_NUMBER=FV/KASA1/...`) filters
on fields, not on words inside a message. Log calls pass them with `extra=invoice_fields(...)`;
systemd-python's `JournalHandler` sends every upper-case record attribute as a journal field, and
`LogfmtFields` appends the same ones to the plain-text line. `TILL` is put on every record by
`TillFilter` (the device's `[device] pos_id`), so one journal query spans a shop's tills.
Field values are identifiers and codes only: never a token, key, passphrase or request body.
"""
from __future__ import annotations

import logging
from typing import Any

INVOICE_ID = "INVOICE_ID"
INVOICE_NUMBER = "INVOICE_NUMBER"
KSEF_NUMBER = "KSEF_NUMBER"
STATE = "STATE"
TILL = "TILL"
ERROR_CODE = "ERROR_CODE"
KIND = "DOCUMENT_KIND"  # VAT (an invoice) or KOR (a correction)
ALARM = "ALARM_LEVEL"   # at_risk | overdue | rejected

FIELDS: tuple[str, ...] = (TILL, INVOICE_ID, INVOICE_NUMBER, KIND, STATE, KSEF_NUMBER, ERROR_CODE, ALARM)


def invoice_fields(record: Any, state: str, *, ksef_number: str | None = None, error_code: str | None = None,
                   kind: str | None = None) -> dict[str, str]:
    """The fields of one stored invoice (`store.InvoiceRecord`) in `state` (issued, accepted, ...)."""
    fields = {INVOICE_ID: str(record.id), INVOICE_NUMBER: str(record.number), STATE: state}
    number = ksef_number or getattr(record, "ksef_number", None)
    if number:
        fields[KSEF_NUMBER] = str(number)
    if error_code:
        fields[ERROR_CODE] = str(error_code)
    if kind:
        fields[KIND] = kind
    return fields


class TillFilter(logging.Filter):
    """Adds `TILL` (the device's pos_id) to every record passing the handler it is attached to."""

    def __init__(self, till: str) -> None:
        super().__init__()
        self.till = till

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, TILL):
            setattr(record, TILL, self.till)
        return True


def set_till(till: str) -> None:
    """Tag every log record of this process with the till (call once the config is read)."""
    for handler in logging.getLogger().handlers:
        for old in [f for f in handler.filters if isinstance(f, TillFilter)]:
            handler.removeFilter(old)
        handler.addFilter(TillFilter(till))


def logfmt_fields(record: logging.LogRecord) -> str:
    """` till=KASA1 invoice_id=5 invoice_number="FV/..." state=issued`: the fields for a plain-text line."""
    out = []
    for name in FIELDS:
        value = getattr(record, name, None)
        if value is None:
            continue
        text = str(value)
        if not text or any(c in text for c in ' "=\\') or "\n" in text:
            text = '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
        out.append(f" {name.lower()}={text}")
    return "".join(out)
