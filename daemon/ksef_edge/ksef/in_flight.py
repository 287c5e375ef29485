"""In-flight resolution: what became of invoices in `sending`, asked of KSeF before anything is resent.

Rule 2 of the uplink (module `uplink`): an invoice in `sending` is never sent again until KSeF's own
view of that session says it is not there (looked up by invoice hash) and no request to that session
can still be in flight (`lost_grace_s` after the last one). A batch session still open after a crash
or lost upload was never closed by us, so KSeF will never process it: it is abandoned and requeued.
"""
from __future__ import annotations

import logging
from collections import defaultdict

from ..store.records import InvoiceRecord, InvoiceState
from .models import InvoiceStatus
from .outcomes import Outcomes
from .sending import Sender
from .uplink_shared import RecentTimes, UplinkParts, b64, by_session, utcnow
from .upo_fetch import UpoFetcher

log = logging.getLogger("ksef_edge.ksef.uplink")


class InFlightResolver:
    def __init__(self, parts: UplinkParts, sender: Sender, outcomes: Outcomes, upos: UpoFetcher) -> None:
        self._p = parts
        self._sender = sender
        self._outcomes = outcomes
        self._upos = upos
        self._polled: RecentTimes[float] = RecentTimes()  # session ref -> monotonic time of our last poll

    async def resolve(self) -> bool:
        sessions = by_session(await self._p.all_in(InvoiceState.SENDING))
        progress = False
        now = self._p.clock.monotonic()
        for ref, recs in sessions.items():
            if not ref:  # cannot happen through mark_sending; never resend blindly
                log.error("invoices %s are 'sending' without a session reference", [r.id for r in recs])
                continue
            last = self._polled.get(ref)
            if ref == self._sender.active_batch or (last is not None and now - last < self._p.config.poll_interval_s):
                continue
            if any(self._p.client.pacer.delay(g) > 0 for g in self._poll_groups(ref, recs)):
                continue  # no budget for this query now: never stall sending on a status poll
            self._polled.set(ref, now)
            progress |= await self._resolve_session(ref, recs)
        return progress

    @staticmethod
    def _by_invoice_status(recs: list[InvoiceRecord]) -> bool:
        return len(recs) <= 5 and all(r.ksef_invoice_ref for r in recs)

    def _poll_groups(self, ref: str, recs: list[InvoiceRecord]) -> tuple[str, ...]:
        if "-SB-" in ref:
            return ("sessionMisc", "sessionInvoiceList")
        return ("invoiceStatus",) if self._by_invoice_status(recs) else ("sessionInvoiceList", "sessionMisc")

    async def _resolve_session(self, ref: str, recs: list[InvoiceRecord]) -> bool:
        client = self._p.client
        session_code: int | None = None
        if "-SB-" in ref:  # batch: read the session status FIRST, then its list (no race with processing)
            session_code = (await client.session_status(ref)).code
            if session_code in (150, 170):
                return False  # closed, being processed: the list fills in when done
            entries = [] if session_code == 100 else await client.session_invoices(ref)
        elif self._by_invoice_status(recs):
            entries = [await client.invoice_status(ref, r.ksef_invoice_ref or "") for r in recs]
        else:
            entries = await client.session_invoices(ref)
        self._upos.remember_urls(ref, entries)
        by_hash: dict[str, list[InvoiceStatus]] = defaultdict(list)
        for e in entries:
            by_hash[e.invoice_hash].append(e)
        progress = False
        missing: list[InvoiceRecord] = []
        accepted: list[tuple[InvoiceRecord, InvoiceStatus]] = []
        for rec in recs:
            found = by_hash.get(b64(rec.sha256))
            if not found:
                missing.append(rec)
                continue
            # one file may appear twice in a session (re-sent after a lost answer): best outcome wins
            entry = min(found, key=lambda e: {200: 0, 100: 1, 150: 1}.get(e.code, 2))
            if entry.code == 200:
                accepted.append((rec, entry))
            else:
                progress |= await self._outcomes.apply(rec, ref, entry)
        if accepted:
            progress |= await self._outcomes.accept_many(ref, accepted)
        if missing:
            progress |= await self._handle_missing(ref, missing, session_code)
        return progress

    async def _handle_missing(self, ref: str, missing: list[InvoiceRecord], session_code: int | None) -> bool:
        """Invoices KSeF does not list for the session: requeue once no request can still land.

        A batch session still open (100) was never closed by this process, so KSeF will never
        process it: abandon it. Any other session that does not list the invoice never got it.
        """
        touched = self._p.touched.get(ref)
        waiting = [r for r in missing
                   if (utcnow() - max(t for t in (touched, r.updated_at) if t is not None)).total_seconds()
                   < self._p.config.lost_grace_s]
        if len(waiting) == len(missing):
            return False
        if session_code == 200:
            log.warning("batch %s processed without %d of our invoices; requeueing them", ref, len(missing))
        progress = False
        for rec in missing:
            if rec in waiting:
                continue
            log.info("invoice %s not in KSeF session %s: back to the queue", rec.number, ref)
            await self._p.store.mark_requeued(rec.id)
            progress = True
        return progress
