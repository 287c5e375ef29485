"""What KSeF said about one invoice, written to the outbox: accepted (with its checked KSeF number,
then its UPO), a 440 duplicate resolved against the original's hash (rule 3), cancelled (requeued),
or rejected (an alarm: a technical correction is needed)."""
from __future__ import annotations

import logging
from typing import Awaitable, Callable

from ..domain.errors import KsefNumberError
from ..domain.ksef_number import validate_ksef_number
from ..store.records import InvoiceRecord
from . import uplink_log
from .errors import KsefProtocolError
from .models import InvoiceStatus
from .uplink_shared import UplinkParts, b64
from .upo_fetch import UpoFetcher

log = logging.getLogger("ksef_edge.ksef.uplink")

RETRYABLE_INVOICE_CODES = {405, 550}        # cancelled by session error / by system: send again

OnAccepted = Callable[[int, str], Awaitable[None]]


class Outcomes:
    def __init__(self, parts: UplinkParts, upos: UpoFetcher, on_accepted: OnAccepted | None) -> None:
        self._p = parts
        self._upos = upos
        self._on_accepted = on_accepted  # e.g. reprint KOD I labelled with the KSeF number

    async def apply(self, rec: InvoiceRecord, ref: str, entry: InvoiceStatus) -> bool:
        store = self._p.store
        if entry.code in (100, 150):
            if rec.ksef_invoice_ref is None:
                await store.mark_sending(rec.id, ref, entry.reference_number)
                return True
            return False
        if entry.code == 200:
            ksef_number = self._checked_number(entry.ksef_number, rec)
            await store.mark_accepted(rec.id, ksef_number)
            await self._accepted(rec, ksef_number)
            await self._upos.confirm(rec, ref, ksef_number, entry.upo_download_url)
            return True
        if entry.code == 440:
            return await self._resolve_duplicate(rec, ref, entry)
        if entry.code in RETRYABLE_INVOICE_CODES:
            log.info("KSeF cancelled invoice %s (%s); sending again", rec.number, entry.reason)
            await store.mark_requeued(rec.id)
            return True
        await self.reject(rec, str(entry.code), entry.reason)
        return True

    async def accept_many(self, ref: str, accepted: list[tuple[InvoiceRecord, InvoiceStatus]]) -> bool:
        """Many invoices of one session got KSeF numbers (a processed batch): store them in one
        transaction, then fetch and check their UPOs and store those in one transaction too."""
        numbered = [(rec, self._checked_number(entry.ksef_number, rec), entry) for rec, entry in accepted]
        if len(numbered) > 1:
            await self._p.store.mark_accepted_many([(rec.id, number) for rec, number, _ in numbered])
        else:
            for rec, number, _ in numbered:
                await self._p.store.mark_accepted(rec.id, number)
        for rec, number, _ in numbered:
            await self._accepted(rec, number)
        await self._upos.confirm_many(ref, [(rec, number, entry.upo_download_url) for rec, number, entry in numbered])
        return True

    @staticmethod
    def _checked_number(number: str | None, rec: InvoiceRecord) -> str:
        try:
            return validate_ksef_number(number or "")
        except KsefNumberError as exc:
            raise KsefProtocolError(f"KSeF returned an invalid KSeF number for {rec.number}: {exc}") from exc

    async def _resolve_duplicate(self, rec: InvoiceRecord, ref: str, entry: InvoiceStatus) -> bool:
        """440: the number was already sent. Success only if the original is byte-identical (rule 3)."""
        original_number = entry.extensions.get("originalKsefNumber")
        original_session = entry.extensions.get("originalSessionReferenceNumber")
        original = None
        if original_number and original_session:
            original = next((e for e in await self._p.client.session_invoices(original_session)
                             if e.ksef_number == original_number), None)
        if original is None or original_session is None or original.invoice_hash != b64(rec.sha256):
            await self.reject(rec, "440", f"{entry.reason}; the invoice in KSeF has different content "
                                          "(invoice number reused?): check the numbering, then correct")
            return True
        ksef_number = self._checked_number(original_number, rec)
        await self._p.store.mark_sending(rec.id, original_session, original.reference_number)  # point at the original
        await self._p.store.mark_accepted(rec.id, ksef_number)
        log.info("invoice %s was already in KSeF as %s (lost answer resolved)", rec.number, ksef_number)
        await self._accepted(rec, ksef_number)
        await self._upos.confirm(rec, original_session, ksef_number, original.upo_download_url)
        return True

    async def _accepted(self, rec: InvoiceRecord, ksef_number: str) -> None:
        self._p.metrics.accepted.inc()
        uplink_log.accepted(rec, ksef_number)
        self._p.progress.success()
        if self._on_accepted is not None:
            try:
                await self._on_accepted(rec.id, ksef_number)
            except Exception as exc:  # a reprint problem must not stop uploads
                log.warning("after-acceptance hook failed for %s: %s", rec.number, exc)

    async def reject(self, rec: InvoiceRecord, code: str, reason: str) -> None:
        await self._p.store.mark_rejected(rec.id, code, reason)
        self._p.metrics.rejected.inc()
        uplink_log.rejected(rec, code, reason)
