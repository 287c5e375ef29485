"""UPO fetching: each accepted invoice's UPO, checked against its hash and KSeF number, then stored.

A UPO download that fails (5xx, reset, timeout, not ready, expired URL) concerns that invoice only:
it stays `accepted` (its UPO pending), is tried again after its own backoff, and neither stops the
other invoices of the step nor costs a new session list while the session's URLs are still valid.
Pre-signed URLs learned from session lists are kept between steps (session -> KSeF number -> (url,
expiry)), so a failed download never costs another list (20/min, 200/h in production). Both memories
are pruned each round to what accepted invoices still need.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import logging
import random

from ..store.records import InvoiceRecord, InvoiceState
from . import uplink_log
from .errors import KsefHttpError, KsefProtocolError, KsefUnavailable
from .models import InvoiceStatus
from .technical_correction import expected_upo_hash
from .uplink_shared import RecentTimes, UplinkParts, by_session
from .upo_check import check_upo

log = logging.getLogger("ksef_edge.ksef.uplink")

UPO_CONCURRENCY = 8         # pre-signed UPO downloads at once (storage: no token, not rate-limited)
UPO_URL_MARGIN_S = 60.0     # a pre-signed URL this close to its expiry is not used any more
UPO_LIST_FROM = 4           # from this many invoices without a URL, one session list beats per-invoice UPO calls


class UpoFetcher:
    def __init__(self, parts: UplinkParts) -> None:
        self._p = parts
        self._urls: dict[str, dict[str, tuple[str, dt.datetime | None]]] = {}
        self._retry: dict[int, tuple[int, float]] = {}  # invoice id -> (failures so far, monotonic next try)
        self._listed: RecentTimes[float] = RecentTimes()  # session ref -> monotonic time of our last list

    def remember_urls(self, ref: str, entries: list[InvoiceStatus]) -> None:
        urls = self._urls.setdefault(ref, {})
        for e in entries:
            if e.code == 200 and e.ksef_number and e.upo_download_url:
                urls[e.ksef_number] = (e.upo_download_url, e.upo_download_url_expires)

    def _url(self, ref: str, ksef_number: str) -> str | None:
        """The remembered pre-signed URL of this invoice's UPO, unless it is about to expire."""
        url, expires = self._urls.get(ref, {}).get(ksef_number, (None, None))
        if url is None or (expires is not None
                           and (expires - self._p.clock.now()).total_seconds() < UPO_URL_MARGIN_S):
            return None
        return url

    def _due(self, invoice_id: int, now: float) -> bool:
        retry = self._retry.get(invoice_id)
        return retry is None or now >= retry[1]

    def _later(self, rec: InvoiceRecord, why: str) -> None:
        cfg = self._p.config
        failures = self._retry.get(rec.id, (0, 0.0))[0] + 1
        delay = min(cfg.backoff_max_s, cfg.backoff_base_s * 2 ** min(failures - 1, 20))
        delay *= random.uniform(0.5, 1.0)
        self._retry[rec.id] = (failures, self._p.clock.monotonic() + delay)
        log.info("UPO for %s pending (%s); trying again in %.1fs", rec.number, why, delay)

    async def confirm(self, rec: InvoiceRecord, ref: str, ksef_number: str, url: str | None) -> bool:
        return await self.confirm_many(ref, [(rec, ksef_number, url)]) > 0

    async def confirm_many(self, ref: str, items: list[tuple[InvoiceRecord, str, str | None]]) -> int:
        """Fetch and check these UPOs (pre-signed downloads in parallel), store those that came in one
        transaction; returns how many. A failed one is left for later (`_later`)."""
        gate = asyncio.Semaphore(UPO_CONCURRENCY)

        async def one(rec: InvoiceRecord, number: str, url: str | None) -> bytes | None:
            async with gate:
                return await self._fetch(rec, ref, number, url)

        results = await asyncio.gather(*(one(*item) for item in items), return_exceptions=True)
        upos = [(rec.id, r) for (rec, _, _), r in zip(items, results) if isinstance(r, bytes)]
        stored = [(rec, number) for (rec, number, _), r in zip(items, results) if isinstance(r, bytes)]
        if len(upos) > 1:
            await self._p.store.mark_confirmed_many(upos)
        else:
            for invoice_id, upo in upos:
                await self._p.store.mark_confirmed(invoice_id, upo)
        for rec, number in stored:
            uplink_log.confirmed(rec, number)
        crashed = next((r for r in results if isinstance(r, BaseException)), None)
        if crashed is not None:  # not a download failure (those are handled per invoice): the step's business
            raise crashed
        return len(upos)

    async def _fetch(self, rec: InvoiceRecord, ref: str, ksef_number: str, url: str | None) -> bytes | None:
        """The invoice's UPO, checked (valid, lists our hash under our KSeF number), or None for now."""
        client = self._p.client
        url = url or self._url(ref, ksef_number)
        try:
            upo = await (client.download_upo(url) if url else client.invoice_upo_by_ksef_number(ref, ksef_number))
            check_upo(upo.xml, invoice_hash_b64=await expected_upo_hash(self._p.store, rec), ksef_number=ksef_number)
        except (KsefHttpError, KsefUnavailable) as exc:
            if url and isinstance(exc, KsefHttpError) and exc.status in (403, 404):
                self._urls.get(ref, {}).pop(ksef_number, None)  # expired/revoked URL: get a fresh one
            self._later(rec, str(exc))
            return None
        except KsefProtocolError as exc:
            self._p.metrics.errors.labels(kind="upo").inc()
            self._p.progress.error(f"UPO for {rec.number}: {exc}")
            log.error("UPO for %s refused: %s", rec.number, exc)
            self._urls.get(ref, {}).pop(ksef_number, None)
            self._later(rec, "refused")
            return None
        self._retry.pop(rec.id, None)
        return upo.xml

    async def fetch_missing(self) -> bool:
        sessions = by_session(await self._p.all_in(InvoiceState.ACCEPTED))
        progress = False
        now = self._p.clock.monotonic()
        for ref, recs in sessions.items():
            if not ref or self._p.stop.is_set():
                continue
            due = [r for r in recs if self._due(r.id, now)]
            unknown = [r for r in due if self._url(ref, r.ksef_number or "") is None]
            if len(unknown) >= UPO_LIST_FROM:
                # many without a URL (after a restart, or URLs expired): one list gives them all
                if await self._list_urls(ref, unknown, now):
                    for rec in unknown:
                        if self._url(ref, rec.ksef_number or "") is None:
                            self._later(rec, "no UPO download URL in the session list yet")
                due = [r for r in due if self._url(ref, r.ksef_number or "") is not None]
            elif unknown and self._p.client.pacer.delay("sessionMisc") > 0:
                # UPO by KSeF number is rate-limited: never stall the step waiting for its budget
                waiting = {r.id for r in unknown}
                due = [r for r in due if r.id not in waiting]
            if due:
                progress |= await self.confirm_many(ref, [(r, r.ksef_number or "", None) for r in due]) > 0
        # forget what no accepted invoice needs any more (confirmed, or the process lost them)
        pending = {r.id for recs in sessions.values() for r in recs}
        self._retry = {i: v for i, v in self._retry.items() if i in pending}
        self._urls = {ref: urls for ref, urls in self._urls.items() if ref in sessions}
        return progress

    async def _list_urls(self, ref: str, waiting: list[InvoiceRecord], now: float) -> bool:
        """List the session for its UPO URLs if the list budget allows now; False if not listed."""
        last = self._listed.get(ref)
        if (last is not None and now - last < self._p.config.poll_interval_s) \
                or self._p.client.pacer.delay("sessionInvoiceList") > 0:
            return False
        self._listed.set(ref, now)
        try:
            self.remember_urls(ref, await self._p.client.session_invoices(ref))
        except (KsefHttpError, KsefUnavailable) as exc:
            for rec in waiting:
                self._later(rec, f"session list failed: {exc}")
            return False
        return True
