"""Issue one correction invoice (KOR) of a stored invoice: request -> number -> KOR bytes -> KOD I/II -> commit.

The original is rebuilt as a domain `Invoice` from what the outbox holds (the POS request it was
issued from, its number and creation time; seller, place of issue and SystemInfo read back from its
own stored XML, so a later config change or software update does not matter) and the rebuilt bytes
must equal the stored ones: a correction can only refer to exactly the invoice the customer got.
Everything runs inside the store transaction that allocates the correction's number
(`OutboxStore.issue_correction`), so earlier corrections (`prior`) are always seen.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Callable

from lxml import etree

from ..civil_time import warsaw_date
from ..config import Config
from ..domain.deadlines import OfflineMode
from ..domain.errors import InvoiceError
from ..domain.fa3 import FA3_NS, build_fa3, safe_parser
from ..domain.invoice import Address, Invoice, Party
from ..domain.kor import CorrectedInvoice, CorrectionRequest, build_correction
from ..domain.kor_issuance import issue_correction
from ..domain.qr import QrEnvironment
from ..domain.signer import Signer
from ..refusal import Refusal
from ..store import CorrectionContext, InvoiceRecord, InvoiceState, NewInvoice, OutboxStore
from ..store.numbering import SeriesPattern
from .invoice_request import parse_body, parse_invoice_request, request_hash
from .kor_request import request_from_json, request_to_json

log = logging.getLogger(__name__)


class CorrectionRefusedError(Refusal):
    """The original cannot be corrected at all (not a 'wrong amount' problem): HTTP status + code."""


def original_invoice(record: InvoiceRecord, request_json: str) -> Invoice:
    """The domain invoice behind a stored VAT row; raises CorrectionRefusedError if it cannot be
    rebuilt byte for byte (then a correction would describe another document than the customer's)."""
    if not request_json:
        raise CorrectionRefusedError(
            409, "original_not_correctable",
            f"invoice {record.number} was not issued through POST /v1/invoices on this device; "
            "correct it in the system that issued it", "id")
    assert record.xml is not None
    root = etree.fromstring(record.xml, safe_parser())
    ns = {"fa": FA3_NS}

    def text(path: str) -> str | None:
        value = root.findtext(path, namespaces=ns)
        return value.strip() if value is not None and value.strip() else None

    draft = parse_invoice_request(parse_body(request_json.encode("utf-8")))
    seller = Party(
        name=text("fa:Podmiot1/fa:DaneIdentyfikacyjne/fa:Nazwa") or "",
        nip=text("fa:Podmiot1/fa:DaneIdentyfikacyjne/fa:NIP"),
        address=Address(line1=text("fa:Podmiot1/fa:Adres/fa:AdresL1") or "",
                        line2=text("fa:Podmiot1/fa:Adres/fa:AdresL2"),
                        country=text("fa:Podmiot1/fa:Adres/fa:KodKraju") or "PL"),
    )
    invoice = Invoice(
        seller=seller, buyer=draft.buyer, lines=draft.lines, payment=draft.payment, number=record.number,
        issue_date=record.issue_date, created_at=record.created_at, place_of_issue=text("fa:Fa/fa:P_1M"),
        exemption_basis=draft.exemption_basis, fiscal_receipt=draft.fiscal_receipt,
    )
    rebuilt = build_fa3(invoice, system_info=text("fa:Naglowek/fa:SystemInfo") or "")
    if rebuilt != record.xml:
        log.error("invoice %s: rebuilt XML differs from the stored bytes; refusing to correct it", record.number)
        raise CorrectionRefusedError(
            409, "original_not_reproducible",
            f"invoice {record.number} cannot be reconstructed exactly from its stored request; "
            "it cannot be corrected at the till (report this to the service: the outbox row may be damaged)", "id")
    return invoice


class CorrectionIssuer:
    """`issue(original_id, request, ...)`: the correction path of the local API."""

    def __init__(self, config: Config, signer: Signer, store: OutboxStore, *,
                 now: Callable[[], dt.datetime]) -> None:
        self._config = config
        self._signer = signer
        self._store = store
        self._now = now
        self._pattern = SeriesPattern(config.device.correction_series_pattern, config.device.pos_id,
                                      incarnation=store.incarnation)  # restored: new series (store/incarnation.py)
        self._env = QrEnvironment.parse(config.ksef.qr_environment)
        self._mode = OfflineMode(config.ksef.offline_mode)

    def _build(self, request: CorrectionRequest, seq: int, created_at: dt.datetime,
               ctx: CorrectionContext) -> NewInvoice:
        original = ctx.original
        if original.kind == "KOR":
            raise CorrectionRefusedError(
                422, "correction_of_correction",
                f"{original.number} is itself a correction invoice; issue the new correction against the "
                f"original invoice (id {original.corrects_id}), which already takes this one into account", "id")
        invoice = original_invoice(original, ctx.original_request_json)
        has_number = original.state in (InvoiceState.ACCEPTED, InvoiceState.CONFIRMED)
        issue_date = warsaw_date(created_at)
        correction = build_correction(
            CorrectedInvoice(invoice, original.ksef_number if has_number else None), request,
            number=self._pattern.number(issue_date, seq), issue_date=issue_date, created_at=created_at,
            prior=[request_from_json(text) for text in ctx.prior_requests],
        )
        issued = issue_correction(
            correction, self._signer, env=self._env, ctx_type=self._config.ksef.context_type,
            ctx_value=self._config.ksef.context_value, mode=self._mode,
        )
        return NewInvoice(
            number=correction.number, xml=issued.xml, sha256=issued.sha256, issue_date=issue_date,
            kod1_url=issued.kod1_url, kod2_url=issued.kod2_url, cert_serial=issued.cert_serial,
            offline_mode=self._mode.value, deadline=issued.deadline, kind="KOR",
            correction_request_json=request_to_json(correction.request),
        )

    async def issue(self, original_id: int, request: CorrectionRequest, *, idempotency_key: str,
                    request_hash: str, request_json: str = "", till: str | None = None) -> tuple[InvoiceRecord, bool]:
        """Raises NotFoundError (no such invoice), InvoiceError (field named), CorrectionRefusedError,
        IdempotencyConflictError, ClockBehindError; nothing is stored then."""
        return await self._store.issue_correction(
            original_id,
            series=lambda ts: self._pattern.series(warsaw_date(ts)),
            created_at=self._now(),
            idempotency_key=idempotency_key,
            request_hash=request_hash,
            build=lambda seq, created_at, ctx: self._build(request, seq, created_at, ctx),
            floor_tolerance_s=self._config.clock.floor_tolerance_s,
            request_json=request_json,
            till=till,
        )


def correction_request_hash(original_id: int, canonical_body: str) -> str:
    """Idempotency: the same key for another original or another body is a conflict."""
    return request_hash(json.dumps({"corrects": original_id, "body": canonical_body}, sort_keys=True))


__all__ = ["CorrectionIssuer", "CorrectionRefusedError", "InvoiceError", "correction_request_hash", "original_invoice"]
