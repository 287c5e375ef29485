"""Issue one invoice: draft -> number -> FA(3) -> hash -> KOD I/II -> durable commit.

Everything between the number allocation and the commit runs inside one SQLite transaction
(`OutboxStore.issue`), so a crash never burns or repeats a number. The pure pipeline
(`domain.issuance.issue_document`) runs there, on the store's writer thread: a TPM signature may
take tens of milliseconds and must not stall the event loop (and the watchdog). The result carries
the totals of the document just built, so the 201 never re-reads or re-parses the stored XML.
"""
from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Callable

from ..civil_time import warsaw_date
from ..config import Config
from ..domain.deadlines import OfflineMode
from ..domain.invoice import Address, Invoice, Party
from ..domain.issuance import IssuedDocument, issue_document
from ..domain.qr import QrEnvironment
from ..domain.signer import Signer
from ..store import InvoiceRecord, NewInvoice, OutboxStore
from ..store.numbering import SeriesPattern
from .invoice_request import InvoiceDraft
from .invoice_totals import InvoiceTotals

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IssueResult:
    record: InvoiceRecord  # a new invoice's record has its `xml` (the bytes just stored)
    created: bool  # False: an idempotent replay of an earlier request
    totals: InvoiceTotals | None  # of the document just built; None for a replay (read from the store)


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class InvoiceIssuer:
    def __init__(
        self,
        config: Config,
        signer: Signer,
        store: OutboxStore,
        *,
        now: Callable[[], dt.datetime] = utc_now,
        issue_document: Callable[..., IssuedDocument] = issue_document,
    ) -> None:
        self._issue_document = issue_document
        self._config = config
        self._signer = signer
        self._store = store
        self._now = now
        self._pattern = SeriesPattern(config.device.series_pattern, config.device.pos_id,
                                      incarnation=store.incarnation)  # restored: new series (store/incarnation.py)
        seller = config.seller
        self._seller = Party(
            name=seller.name,
            nip=seller.nip,
            address=Address(line1=seller.address_line1, line2=seller.address_line2, country=seller.country),
        )
        self._env = QrEnvironment.parse(config.ksef.qr_environment)
        self._mode = OfflineMode(config.ksef.offline_mode)

    def invoice_for(self, draft: InvoiceDraft, number: str, created_at: dt.datetime) -> Invoice:
        """The domain invoice for a draft and its number (the same inputs give the same invoice)."""
        return Invoice(
            seller=self._seller,
            buyer=draft.buyer,
            lines=draft.lines,
            payment=draft.payment,
            exemption_basis=draft.exemption_basis,
            fiscal_receipt=draft.fiscal_receipt,
            number=number,
            issue_date=warsaw_date(created_at),
            created_at=created_at,
            place_of_issue=self._config.device.place_of_issue,
        )

    async def issue(
        self, draft: InvoiceDraft, *, idempotency_key: str, request_hash: str, request_json: str = "",
        till: str | None = None,
    ) -> IssueResult:
        built: list[InvoiceTotals] = []  # the totals of the document the committed transaction stored

        def build(seq: int, created_at: dt.datetime) -> NewInvoice:
            issue_date = warsaw_date(created_at)
            invoice = self.invoice_for(draft, self._pattern.number(issue_date, seq), created_at)
            doc = self._issue_document(
                invoice,
                self._signer,
                env=self._env,
                ctx_type=self._config.ksef.context_type,
                ctx_value=self._config.ksef.context_value,
                mode=self._mode,
            )
            built[:] = [InvoiceTotals.of(doc.totals)]
            return NewInvoice(
                number=invoice.number,
                xml=doc.xml,
                sha256=doc.sha256,
                issue_date=issue_date,
                kod1_url=doc.kod1_url,
                kod2_url=doc.kod2_url,
                cert_serial=doc.cert_serial,
                offline_mode=self._mode.value,
                deadline=doc.deadline,
            )

        record, created = await self._store.issue(
            series=lambda ts: self._pattern.series(warsaw_date(ts)),
            created_at=self._now(),
            idempotency_key=idempotency_key,
            request_hash=request_hash,
            build=build,
            floor_tolerance_s=self._config.clock.floor_tolerance_s,
            request_json=request_json,
            till=till,
        )
        return IssueResult(record, created, built[0] if created and built else None)
