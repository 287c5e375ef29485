"""The uplink: drains the outbox to KSeF, every invoice exactly once, before its deadline.

Exactly once rests on three rules:
1. Before any request that could put an invoice into KSeF, the store records `sending` with the
   session reference (and, once known, the invoice reference).
2. An invoice in `sending` is never sent again until KSeF's own view of that session says it is
   not there (looked up by invoice hash) and no request to that session can still be in flight
   (`lost_grace_s` after the last one). Only then does it go back to `issued`.
3. A 440 duplicate answer counts as success only if the original in KSeF has the same hash.
A batch session is processed by KSeF only after *we* close it, so a batch session still open
after a crash or lost upload is abandoned (never closed) and its invoices are requeued.
"""
from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime as dt
import logging
import random
from collections import defaultdict
from dataclasses import dataclass
from typing import Awaitable, Callable

from ..domain.errors import KsefNumberError
from ..domain.ksef_number import validate_ksef_number
from ..store.records import InvoiceRecord, InvoiceState
from . import uplink_log
from .availability import Availability, EffectiveDeadline, end_of_day, warsaw_date
from .batch import BATCH_INVOICES_MAX, build_package
from .client import KsefClient, OnlineSession
from .clock import Clock, SystemClock
from .errors import KsefAuthError, KsefError, KsefHttpError, KsefProtocolError, KsefUnavailable
from .models import InvoiceStatus
from .status import DeadlineAlarm, UplinkMetrics, UplinkStatus
from .store_protocol import UplinkStore
from .correction import expected_upo_hash
from .upo_check import check_upo

log = logging.getLogger(__name__)

SESSION_STATUS_FORBIDS = 21180
SESSION_GONE_CODES = {21173, SESSION_STATUS_FORBIDS, 21155}  # no such session / status forbids / invoice limit
RETRYABLE_INVOICE_CODES = {405, 550}        # cancelled by session error / by system: send again
PAGE = 500
UPO_CONCURRENCY = 8         # pre-signed UPO downloads at once (storage: no token, not rate-limited)
UPO_URL_MARGIN_S = 60.0     # a pre-signed URL this close to its expiry is not used any more
UPO_LIST_FROM = 4           # from this many invoices without a URL, one session list beats per-invoice UPO calls
STOP_CLEANUP_S = 1.0       # after a cancelled stop, at most this long for the task's own clean-up
LIMITS_RETRY_MAX_S = 300.0  # GET /rate-limits failed: ask again within this long, not after rate_limits_interval_s


@dataclass(frozen=True)
class UplinkConfig:
    batch_threshold: int = 30            # queue length from which a batch session is used
    batch_invoices_max: int = BATCH_INVOICES_MAX  # per batch session: KSeF allows 10 000 (one list_for_upload page)
    online_idle_close_s: float = 60.0
    online_session_invoices_max: int = 1000
    online_session_age_max_s: float = 3600.0
    online_sends_per_step: int = 10
    poll_interval_s: float = 2.0         # between status queries of one session
    idle_wait_s: float = 10.0            # nothing to do: wait this long or until notify()
    lost_grace_s: float = 90.0           # > client timeout: a lost request cannot land after this
    upload_attempts: int = 4             # per batch part
    alarm_margin_s: float = 6 * 3600.0   # less than this left until the end of the deadline day -> "at_risk"
    backoff_base_s: float = 1.0
    backoff_max_s: float = 300.0
    latarnia_interval_s: float = 300.0
    rate_limits_interval_s: float = 3600.0
    status_interval_s: float = 5.0
    offline_mode: bool = True            # every invoice this till issues is an offline invoice

    def __post_init__(self) -> None:
        if not 1 <= self.batch_invoices_max <= BATCH_INVOICES_MAX:
            raise ValueError(f"uplink.batch_invoices_max must be 1..{BATCH_INVOICES_MAX} (KSeF's batch session limit)")
        if not 1 <= self.batch_threshold <= self.batch_invoices_max:
            raise ValueError("uplink.batch_threshold must be between 1 and batch_invoices_max")
        if self.lost_grace_s <= 0 or self.poll_interval_s <= 0:
            raise ValueError("uplink.lost_grace_s and uplink.poll_interval_s must be > 0")


def _b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode("ascii")


def _utcnow() -> dt.datetime:
    # The store stamps `updated_at` with the real wall clock, so grace periods compare against it.
    return dt.datetime.now(dt.timezone.utc)


def _by_session(records: list[InvoiceRecord]) -> dict[str, list[InvoiceRecord]]:
    """Records by their KSeF session reference ("" for none), in the order given."""
    by_session: dict[str, list[InvoiceRecord]] = defaultdict(list)
    for rec in records:
        by_session[rec.ksef_session_ref or ""].append(rec)
    return by_session


class Uplink:
    """Background task. `start()` / `await stop()`; `notify()` after each issued invoice."""

    def __init__(
        self,
        store: UplinkStore,
        client: KsefClient,
        *,
        config: UplinkConfig | None = None,
        clock: Clock | None = None,
        availability: Availability | None = None,
        metrics: UplinkMetrics | None = None,
        on_accepted: Callable[[int, str], Awaitable[None]] | None = None,
    ) -> None:
        self.store = store
        self.client = client
        self.config = config or UplinkConfig()
        self.clock = clock or client.clock or SystemClock()
        self.availability = availability or Availability()
        self.metrics = metrics or UplinkMetrics()
        self._on_accepted = on_accepted  # e.g. reprint KOD I labelled with the KSeF number
        self._stop = asyncio.Event()
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._online: OnlineSession | None = None
        self._online_count = 0
        self._online_opened = 0.0
        self._online_last_send = 0.0
        self._active_batch: str | None = None
        self._last_poll: dict[str, float] = {}
        # UPOs: pre-signed URLs learned from session lists (session -> KSeF number -> (url, expiry)), kept
        # between steps so a failed download never costs another list (20/min, 200/h in production), and
        # per invoice (failures so far, monotonic time of the next try) for those whose download failed
        self._upo_urls: dict[str, dict[str, tuple[str, dt.datetime | None]]] = {}
        self._upo_retry: dict[int, tuple[int, float]] = {}
        self._limits_failures = 0
        self._touched: dict[str, dt.datetime] = {}  # session ref -> last request we sent to it
        self._failures = 0
        self._next_latarnia = 0.0
        self._next_limits = 0.0
        self._next_status = 0.0
        self._mode = "idle"
        self._last_success: dt.datetime | None = None
        self._last_error: str | None = None
        self._last_error_at: dt.datetime | None = None
        self._alarmed: set[tuple[int, str]] = set()
        self._status = UplinkStatus(False, {}, None, None, None, None, 0.0, "idle", "UNKNOWN")
        self._sent_times: list[float] = []

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> asyncio.Task:
        self._stop.clear()
        self._task = asyncio.create_task(self.run(), name="ksef-uplink")
        return self._task

    def notify(self) -> None:
        """A new invoice is in the outbox: stop waiting."""
        self._wake.set()

    async def stop(self, timeout_s: float = 30.0) -> None:
        """Finish the current step, close the online session, return. Every invoice stays resumable
        even if the step is cancelled: state is written before each request."""
        self._stop.set()
        self._wake.set()
        if self._task is None:
            return
        try:
            await asyncio.wait_for(asyncio.shield(self._task), timeout_s)
        except asyncio.TimeoutError:
            self._task.cancel()
            # the task's `finally` may itself wait on KSeF (closing the session): cancel that too
            with contextlib.suppress(asyncio.CancelledError, asyncio.TimeoutError):
                await asyncio.wait_for(self._task, STOP_CLEANUP_S)

    async def run(self) -> None:
        log.info("uplink started")
        try:
            while not self._stop.is_set():
                try:
                    progress = await self.step()
                    self._failures = 0
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # noqa: BLE001 - the task must outlive any one failure
                    if not isinstance(exc, (KsefError, OSError)):
                        log.exception("uplink step crashed (bug?); will retry")
                    await self._on_failure(exc)
                    continue
                if not progress and not self._stop.is_set():
                    await self._pause(self.config.poll_interval_s if await self._has_in_flight()
                                      else self.config.idle_wait_s)
        finally:
            try:
                await self._close_online(reason="stopping")
            except Exception as exc:  # noqa: BLE001 - best effort on the way out
                log.info("online session not closed on stop: %s", exc)
            await self.refresh_status(force=True)
            log.info("uplink stopped")

    async def _pause(self, seconds: float) -> None:
        if isinstance(self.clock, SystemClock):
            try:
                await asyncio.wait_for(self._wake.wait(), seconds)
            except asyncio.TimeoutError:
                pass
            self._wake.clear()
        else:
            await self.clock.sleep(seconds)

    async def _on_failure(self, exc: BaseException) -> None:
        self._failures += 1
        kind = "unavailable" if isinstance(exc, KsefUnavailable) else type(exc).__name__
        self.metrics.errors.labels(kind=kind).inc()
        self._last_error = f"{type(exc).__name__}: {exc}"
        self._last_error_at = self.clock.now()
        delay = min(self.config.backoff_max_s, self.config.backoff_base_s * 2 ** min(self._failures, 20))
        delay *= random.uniform(0.5, 1.0)
        retry_after = getattr(exc, "retry_after", None)
        if retry_after:  # a 5xx hint; capped so an outage's "30 s" never outlasts our own backoff ceiling
            delay = max(delay, min(float(retry_after), self.config.backoff_max_s))
        if isinstance(exc, KsefAuthError):
            delay = self.config.backoff_max_s  # needs a person: don't hammer KSeF
            log.error("KSeF authentication refused: %s", exc)
        else:
            log.warning("uplink step failed (%s); retrying in %.1fs", self._last_error, delay)
        self._mode = "backoff"
        await self.refresh_status(force=True)
        await self._pause(delay)

    # ------------------------------------------------------------------ one step

    async def step(self) -> bool:
        """One round: refresh limits/availability, resolve in-flight, fetch UPOs, send. True if anything moved."""
        await self._maybe_refresh_limits()
        await self._maybe_check_latarnia()
        progress = await self._resolve_in_flight()
        progress |= await self._fetch_missing_upos()
        if self._stop.is_set():
            return progress
        queue = await self.store.list_for_upload(self.config.batch_invoices_max)
        if len(queue) >= self.config.batch_threshold:
            self._mode = "batch"
            progress |= await self._send_batch(queue)
        elif queue:
            self._mode = "online"
            progress |= await self._send_online(queue[: self.config.online_sends_per_step])
        else:
            await self._close_online_if_idle()
            self._mode = "idle"
        await self.refresh_status()
        return progress

    async def _maybe_refresh_limits(self) -> None:
        now = self.clock.monotonic()
        if now < self._next_limits:
            return
        self._next_limits = now + self.config.rate_limits_interval_s
        try:
            self.client.pacer.update_limits(await self.client.rate_limits())
            self._limits_failures = 0
        except KsefHttpError as exc:
            log.info("GET /rate-limits refused (%s); keeping production limits", exc)
        except KsefUnavailable as exc:
            # not answered (KSeF down at start-up): ask again soon rather than pace by guesses for an
            # hour; the rest of the step goes on (it fails by itself if KSeF is really down)
            self._limits_failures += 1
            retry = min(self.config.rate_limits_interval_s, LIMITS_RETRY_MAX_S,
                        self.config.poll_interval_s * 2 ** min(self._limits_failures - 1, 20))
            self._next_limits = now + retry
            log.info("GET /rate-limits failed (%s); production limits until it answers, asking again in %.1fs",
                     exc, retry)

    async def _maybe_check_latarnia(self) -> None:
        now = self.clock.monotonic()
        if now < self._next_latarnia or not self.client.env.latarnia_base:
            return
        self._next_latarnia = now + self.config.latarnia_interval_s
        await self.check_availability()

    async def check_availability(self) -> None:
        """Read Latarnia now and recompute what it means for deadlines (also on demand from the API)."""
        try:
            status = await self.client.latarnia_status()
        except KsefError as exc:  # Latarnia down is information, not a reason to stop uploading
            log.info("Latarnia not reachable: %s", exc)
            return
        before = self.availability.status
        self.availability.update(status, warsaw_date(self.clock.now()))
        if status.status != before:
            log.warning("KSeF availability (Latarnia): %s -> %s", before, status.status)

    async def _has_in_flight(self) -> bool:
        counts = await self.store.counts_by_state()
        return bool(counts.get("sending") or counts.get("accepted"))

    async def _all(self, state: InvoiceState) -> list[InvoiceRecord]:
        out: list[InvoiceRecord] = []
        after = 0
        while True:
            page = await self.store.list(state=state, limit=PAGE, after=after)
            out.extend(page)
            if len(page) < PAGE:
                return out
            after = page[-1].id

    def _success(self) -> None:
        self._last_success = self.clock.now()
        self.metrics.last_success.set(self._last_success.timestamp())

    # ------------------------------------------------------------------ sending: online (trickle)

    async def _ensure_online(self) -> OnlineSession:
        now = self.clock.monotonic()
        if self._online is not None and (
            self._online_count >= self.config.online_session_invoices_max
            or now - self._online_opened > self.config.online_session_age_max_s
        ):
            await self._close_online(reason="size/age limit")
        if self._online is None:
            self._online = await self.client.open_online_session()
            self._online_count = 0
            self._online_opened = self._online_last_send = self.clock.monotonic()
            log.info("online session %s opened", self._online.reference_number)
        return self._online

    async def _close_online(self, reason: str) -> None:
        session, self._online = self._online, None
        if session is None:
            return
        self._touched[session.reference_number] = _utcnow()
        try:
            await self.client.close_online_session(session.reference_number)
            log.info("online session %s closed (%s)", session.reference_number, reason)
        except KsefHttpError as exc:
            log.info("online session %s not closed: %s", session.reference_number, exc)

    async def _close_online_if_idle(self) -> None:
        if self._online is not None and \
                self.clock.monotonic() - self._online_last_send >= self.config.online_idle_close_s:
            await self._close_online(reason="idle")

    async def _send_online(self, records: list[InvoiceRecord]) -> bool:
        session = await self._ensure_online()
        ref = session.reference_number
        progress = False
        for rec in records:
            if self._stop.is_set():
                break
            assert rec.xml is not None, "list_for_upload must return the XML bytes"
            await self.store.mark_sending(rec.id, ref)           # rule 1: persist before the request
            self._touched[ref] = _utcnow()
            try:
                invoice_ref = await self.client.send_invoice(session, rec.xml, offline_mode=self.config.offline_mode)
            except KsefHttpError as exc:                          # a definite refusal: nothing committed
                progress = True
                if exc.status == 429 or exc.status in (401, 403) or SESSION_GONE_CODES & set(exc.codes):
                    await self.store.mark_requeued(rec.id)
                    if SESSION_GONE_CODES & set(exc.codes):
                        self._online = None
                        return progress
                    raise
                await self._reject(rec, str(exc.codes[0] if exc.codes else exc.status), exc.message or str(exc))
                continue
            await self.store.mark_sending(rec.id, ref, invoice_ref)
            self._online_count += 1
            self._online_last_send = self.clock.monotonic()
            self._count_sent(1, "online")
            progress = True
        return progress

    def _count_sent(self, n: int, path: str) -> None:
        self.metrics.sent.labels(path=path).inc(n)
        now = self.clock.monotonic()
        self._sent_times.extend([now] * n)
        self._sent_times = [t for t in self._sent_times if t > now - 60.0]
        self._success()

    # ------------------------------------------------------------------ sending: batch (backlog)

    async def _send_batch(self, records: list[InvoiceRecord]) -> bool:
        await self._close_online(reason="switching to batch")
        package = build_package([(f"{rec.id}.xml", rec.xml or b"") for rec in records])
        batch = await self.client.open_batch_session(package, offline_mode=self.config.offline_mode)
        ref = batch.reference_number
        self._active_batch = ref
        try:
            bulk = getattr(self.store, "mark_sending_many", None)  # rule 1, before any part is uploaded
            if bulk is not None:
                await bulk([rec.id for rec in records], ref)    # one transaction for up to 10 000
            else:
                for rec in records:
                    await self.store.mark_sending(rec.id, ref)
            self._touched[ref] = _utcnow()
            uploads = sorted(batch.uploads, key=lambda u: u.ordinal_number)
            if len(uploads) != len(package.parts):
                raise KsefProtocolError(f"batch {ref}: {len(uploads)} upload URLs for {len(package.parts)} parts")
            for upload, part in zip(uploads, package.parts):
                for attempt in range(self.config.upload_attempts):
                    try:
                        await self.client.upload_part(upload, part)   # idempotent PUT of the same bytes
                        break
                    except KsefUnavailable:
                        if attempt + 1 == self.config.upload_attempts:
                            raise
                        await self.clock.sleep(self.config.backoff_base_s * 2 ** attempt * random.uniform(0.5, 1))
            await self._close_batch(ref)
        finally:
            self._active_batch = None
        log.info("batch session %s closed with %d invoices", ref, len(records))
        self._count_sent(len(records), "batch")
        return True

    async def _close_batch(self, ref: str) -> None:
        """Close the batch we just uploaded, retrying a close whose outcome is unknown. Without this a lost
        close left the session open, so its invoices waited `lost_grace_s` and went out again in a new batch.
        A repeated close either closes it (the first never arrived) or is refused with 21180 because the
        session is no longer open (the first did): either way it is closed, and its status decides the rest."""
        for attempt in range(self.config.upload_attempts):
            self._touched[ref] = _utcnow()
            try:
                await self.client.close_batch_session(ref)
                return
            except KsefHttpError as exc:
                if attempt and SESSION_STATUS_FORBIDS in exc.codes:
                    log.info("batch %s: repeated close refused (%s); the earlier close arrived", ref, exc)
                    return
                raise
            except KsefUnavailable:
                if attempt + 1 == self.config.upload_attempts:
                    raise
                await self.clock.sleep(self.config.backoff_base_s * 2 ** attempt * random.uniform(0.5, 1))
            finally:
                self._touched[ref] = _utcnow()

    # ------------------------------------------------------------------ resolving what is in flight

    async def _resolve_in_flight(self) -> bool:
        by_session = _by_session(await self._all(InvoiceState.SENDING))
        progress = False
        now = self.clock.monotonic()
        for ref, recs in by_session.items():
            if not ref:  # cannot happen through mark_sending; never resend blindly
                log.error("invoices %s are 'sending' without a session reference", [r.id for r in recs])
                continue
            if ref == self._active_batch or now - self._last_poll.get(ref, -1e18) < self.config.poll_interval_s:
                continue
            if any(self.client.pacer.delay(g) > 0 for g in self._poll_groups(ref, recs)):
                continue  # no budget for this query now: never stall sending on a status poll
            self._last_poll[ref] = now
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
        session_code: int | None = None
        if "-SB-" in ref:  # batch: read the session status FIRST, then its list (no race with processing)
            session_code = (await self.client.session_status(ref)).code
            if session_code in (150, 170):
                return False  # closed, being processed: the list fills in when done
            entries = [] if session_code == 100 else await self.client.session_invoices(ref)
        elif self._by_invoice_status(recs):
            entries = [await self.client.invoice_status(ref, r.ksef_invoice_ref) for r in recs]  # type: ignore[arg-type]
        else:
            entries = await self.client.session_invoices(ref)
        self._remember_upo_urls(ref, entries)
        by_hash: dict[str, list[InvoiceStatus]] = defaultdict(list)
        for e in entries:
            by_hash[e.invoice_hash].append(e)
        progress = False
        missing: list[InvoiceRecord] = []
        accepted: list[tuple[InvoiceRecord, InvoiceStatus]] = []
        for rec in recs:
            found = by_hash.get(_b64(rec.sha256))
            if not found:
                missing.append(rec)
                continue
            # one file may appear twice in a session (re-sent after a lost answer): best outcome wins
            entry = min(found, key=lambda e: {200: 0, 100: 1, 150: 1}.get(e.code, 2))
            if entry.code == 200:
                accepted.append((rec, entry))
            else:
                progress |= await self._apply(rec, ref, entry)
        if accepted:
            progress |= await self._accept_many(ref, accepted)
        if missing:
            progress |= await self._handle_missing(ref, missing, session_code)
        return progress

    async def _handle_missing(self, ref: str, missing: list[InvoiceRecord], session_code: int | None) -> bool:
        """Invoices KSeF does not list for the session: requeue once no request can still land.

        A batch session still open (100) was never closed by this process, so KSeF will never
        process it: abandon it. Any other session that does not list the invoice never got it.
        """
        touched = self._touched.get(ref)
        waiting = [r for r in missing
                   if (_utcnow() - max(filter(None, (touched, r.updated_at)))).total_seconds() < self.config.lost_grace_s]
        if len(waiting) == len(missing):
            return False
        if session_code == 200:
            log.warning("batch %s processed without %d of our invoices; requeueing them", ref, len(missing))
        progress = False
        for rec in missing:
            if rec in waiting:
                continue
            log.info("invoice %s not in KSeF session %s: back to the queue", rec.number, ref)
            await self.store.mark_requeued(rec.id)
            progress = True
        return progress

    async def _apply(self, rec: InvoiceRecord, ref: str, entry: InvoiceStatus) -> bool:
        if entry.code in (100, 150):
            if rec.ksef_invoice_ref is None:
                await self.store.mark_sending(rec.id, ref, entry.reference_number)
                return True
            return False
        if entry.code == 200:
            ksef_number = self._checked_number(entry.ksef_number, rec)
            await self.store.mark_accepted(rec.id, ksef_number)
            await self._accepted(rec, ksef_number)
            await self._confirm(rec, ref, ksef_number, entry.upo_download_url)
            return True
        if entry.code == 440:
            return await self._resolve_duplicate(rec, ref, entry)
        if entry.code in RETRYABLE_INVOICE_CODES:
            log.info("KSeF cancelled invoice %s (%s); sending again", rec.number, entry.reason)
            await self.store.mark_requeued(rec.id)
            return True
        await self._reject(rec, str(entry.code), entry.reason)
        return True

    async def _accept_many(self, ref: str, accepted: list[tuple[InvoiceRecord, InvoiceStatus]]) -> bool:
        """Many invoices of one session got KSeF numbers (a processed batch): store them in one
        transaction, then fetch and check their UPOs and store those in one transaction too."""
        numbered = [(rec, self._checked_number(entry.ksef_number, rec), entry) for rec, entry in accepted]
        bulk = getattr(self.store, "mark_accepted_many", None)
        if bulk is not None and len(numbered) > 1:
            await bulk([(rec.id, number) for rec, number, _ in numbered])
        else:
            for rec, number, _ in numbered:
                await self.store.mark_accepted(rec.id, number)
        for rec, number, _ in numbered:
            await self._accepted(rec, number)
        await self._confirm_many(ref, [(rec, number, entry.upo_download_url) for rec, number, entry in numbered])
        return True

    def _checked_number(self, number: str | None, rec: InvoiceRecord) -> str:
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
            original = next((e for e in await self.client.session_invoices(original_session)
                             if e.ksef_number == original_number), None)
        if original is None or original.invoice_hash != _b64(rec.sha256):
            await self._reject(rec, "440", f"{entry.reason}; the invoice in KSeF has different content "
                                           "(invoice number reused?): check the numbering, then correct")
            return True
        ksef_number = self._checked_number(original_number, rec)
        await self.store.mark_sending(rec.id, original_session, original.reference_number)  # point at the original
        await self.store.mark_accepted(rec.id, ksef_number)
        log.info("invoice %s was already in KSeF as %s (lost answer resolved)", rec.number, ksef_number)
        await self._accepted(rec, ksef_number)
        await self._confirm(rec, original_session, ksef_number, original.upo_download_url)  # type: ignore[arg-type]
        return True

    async def _accepted(self, rec: InvoiceRecord, ksef_number: str) -> None:
        self.metrics.accepted.inc()
        uplink_log.accepted(rec, ksef_number)
        self._success()
        if self._on_accepted is not None:
            try:
                await self._on_accepted(rec.id, ksef_number)
            except Exception as exc:  # noqa: BLE001 - a reprint problem must not stop uploads
                log.warning("after-acceptance hook failed for %s: %s", rec.number, exc)

    async def _reject(self, rec: InvoiceRecord, code: str, reason: str) -> None:
        await self.store.mark_rejected(rec.id, code, reason)
        self.metrics.rejected.inc()
        uplink_log.rejected(rec, code, reason)

    # ------------------------------------------------------------------ UPO
    #
    # A UPO download that fails (5xx, reset, timeout, not ready, expired URL) concerns that invoice only:
    # it stays `accepted` (its UPO pending), is tried again after its own backoff, and neither stops the
    # other invoices of the step nor costs a new session list while the session's URLs are still valid.

    def _remember_upo_urls(self, ref: str, entries: list[InvoiceStatus]) -> None:
        urls = self._upo_urls.setdefault(ref, {})
        for e in entries:
            if e.code == 200 and e.ksef_number and e.upo_download_url:
                urls[e.ksef_number] = (e.upo_download_url, e.upo_download_url_expires)

    def _upo_url(self, ref: str, ksef_number: str) -> str | None:
        """The remembered pre-signed URL of this invoice's UPO, unless it is about to expire."""
        url, expires = self._upo_urls.get(ref, {}).get(ksef_number, (None, None))
        if url is None or (expires is not None
                           and (expires - self.clock.now()).total_seconds() < UPO_URL_MARGIN_S):
            return None
        return url

    def _upo_due(self, invoice_id: int, now: float) -> bool:
        retry = self._upo_retry.get(invoice_id)
        return retry is None or now >= retry[1]

    def _upo_later(self, rec: InvoiceRecord, why: str) -> None:
        failures = self._upo_retry.get(rec.id, (0, 0.0))[0] + 1
        delay = min(self.config.backoff_max_s, self.config.backoff_base_s * 2 ** min(failures - 1, 20))
        delay *= random.uniform(0.5, 1.0)
        self._upo_retry[rec.id] = (failures, self.clock.monotonic() + delay)
        log.info("UPO for %s pending (%s); trying again in %.1fs", rec.number, why, delay)

    async def _confirm(self, rec: InvoiceRecord, ref: str, ksef_number: str, url: str | None) -> bool:
        return await self._confirm_many(ref, [(rec, ksef_number, url)]) > 0

    async def _confirm_many(self, ref: str, items: list[tuple[InvoiceRecord, str, str | None]]) -> int:
        """Fetch and check these UPOs (pre-signed downloads in parallel), store those that came in one
        transaction; returns how many. A failed one is left for later (`_upo_later`)."""
        gate = asyncio.Semaphore(UPO_CONCURRENCY)

        async def one(rec: InvoiceRecord, number: str, url: str | None) -> bytes | None:
            async with gate:
                return await self._fetch_upo(rec, ref, number, url)

        results = await asyncio.gather(*(one(*item) for item in items), return_exceptions=True)
        upos = [(rec.id, r) for (rec, _, _), r in zip(items, results) if isinstance(r, bytes)]
        stored = [(rec, number) for (rec, number, _), r in zip(items, results) if isinstance(r, bytes)]
        confirm_many = getattr(self.store, "mark_confirmed_many", None)
        if confirm_many is not None and len(upos) > 1:
            await confirm_many(upos)
        else:
            for invoice_id, upo in upos:
                await self.store.mark_confirmed(invoice_id, upo)
        for rec, number in stored:
            uplink_log.confirmed(rec, number)
        crashed = next((r for r in results if isinstance(r, BaseException)), None)
        if crashed is not None:  # not a download failure (those are handled per invoice): the step's business
            raise crashed
        return len(upos)

    async def _fetch_upo(self, rec: InvoiceRecord, ref: str, ksef_number: str, url: str | None) -> bytes | None:
        """The invoice's UPO, checked (valid, lists our hash under our KSeF number), or None for now."""
        url = url or self._upo_url(ref, ksef_number)
        try:
            upo = await (self.client.download_upo(url) if url
                         else self.client.invoice_upo_by_ksef_number(ref, ksef_number))
            check_upo(upo.xml, invoice_hash_b64=await expected_upo_hash(self.store, rec), ksef_number=ksef_number)
        except (KsefHttpError, KsefUnavailable) as exc:
            if url and isinstance(exc, KsefHttpError) and exc.status in (403, 404):
                self._upo_urls.get(ref, {}).pop(ksef_number, None)  # expired/revoked URL: get a fresh one
            self._upo_later(rec, str(exc))
            return None
        except KsefProtocolError as exc:
            self.metrics.errors.labels(kind="upo").inc()
            self._last_error, self._last_error_at = f"UPO for {rec.number}: {exc}", self.clock.now()
            log.error("UPO for %s refused: %s", rec.number, exc)
            self._upo_urls.get(ref, {}).pop(ksef_number, None)
            self._upo_later(rec, "refused")
            return None
        self._upo_retry.pop(rec.id, None)
        return upo.xml

    async def _fetch_missing_upos(self) -> bool:
        by_session = _by_session(await self._all(InvoiceState.ACCEPTED))
        progress = False
        now = self.clock.monotonic()
        for ref, recs in by_session.items():
            if not ref or self._stop.is_set():
                continue
            due = [r for r in recs if self._upo_due(r.id, now)]
            unknown = [r for r in due if self._upo_url(ref, r.ksef_number or "") is None]
            if len(unknown) >= UPO_LIST_FROM:
                # many without a URL (after a restart, or URLs expired): one list gives them all
                if await self._list_upo_urls(ref, unknown, now):
                    for rec in unknown:
                        if self._upo_url(ref, rec.ksef_number or "") is None:
                            self._upo_later(rec, "no UPO download URL in the session list yet")
                due = [r for r in due if self._upo_url(ref, r.ksef_number or "") is not None]
            elif unknown and self.client.pacer.delay("sessionMisc") > 0:
                # UPO by KSeF number is rate-limited: never stall the step waiting for its budget
                waiting = {r.id for r in unknown}
                due = [r for r in due if r.id not in waiting]
            if due:
                progress |= await self._confirm_many(ref, [(r, r.ksef_number or "", None) for r in due]) > 0
        # forget what no accepted invoice needs any more (confirmed, or the process lost them)
        pending = {r.id for recs in by_session.values() for r in recs}
        self._upo_retry = {i: v for i, v in self._upo_retry.items() if i in pending}
        self._upo_urls = {ref: urls for ref, urls in self._upo_urls.items() if ref in by_session}
        return progress

    async def _list_upo_urls(self, ref: str, waiting: list[InvoiceRecord], now: float) -> bool:
        """List the session for its UPO URLs if the list budget allows now; False if not listed."""
        key = f"upo:{ref}"
        if now - self._last_poll.get(key, -1e18) < self.config.poll_interval_s \
                or self.client.pacer.delay("sessionInvoiceList") > 0:
            return False
        self._last_poll[key] = now
        try:
            self._remember_upo_urls(ref, await self.client.session_invoices(ref))
        except (KsefHttpError, KsefUnavailable) as exc:
            for rec in waiting:
                self._upo_later(rec, f"session list failed: {exc}")
            return False
        return True

    # ------------------------------------------------------------------ status, deadlines, alarms

    async def refresh_status(self, *, force: bool = False) -> UplinkStatus:
        now = self.clock.monotonic()
        if not force and now < self._next_status:
            return self._status
        self._next_status = now + self.config.status_interval_s
        counts = await self.store.counts_by_state()
        wall = self.clock.now()
        alarms: list[DeadlineAlarm] = []
        oldest: dt.date | None = None
        for state in (InvoiceState.ISSUED, InvoiceState.SENDING, InvoiceState.REJECTED):
            if not counts.get(state.value):
                continue
            for rec in await self._all(state):
                eff = self.availability.effective_deadline(rec.offline_mode, rec.issue_date, rec.deadline)
                await self._persist_deadline(rec, eff)
                if eff.deadline is not None and (oldest is None or eff.deadline < oldest):
                    oldest = eff.deadline
                if state is InvoiceState.REJECTED:
                    alarms.append(DeadlineAlarm(rec.id, rec.number, "rejected", eff.deadline,
                                                f"{rec.reject_code}: {rec.reject_reason}"))
                if eff.deadline is None or eff.pending:
                    continue
                left_s = (end_of_day(eff.deadline) - wall).total_seconds()
                if left_s < 0:
                    alarms.append(DeadlineAlarm(rec.id, rec.number, "overdue", eff.deadline, eff.reason))
                elif left_s <= self.config.alarm_margin_s:
                    alarms.append(DeadlineAlarm(rec.id, rec.number, "at_risk", eff.deadline, eff.reason))
        new = [a for a in alarms if (a.invoice_id, a.level) not in self._alarmed]
        for level in ("rejected", "overdue", "at_risk"):
            group = [a for a in new if a.level == level]
            if group:
                first = min(group, key=lambda a: (a.deadline or dt.date.max, a.invoice_id))
                uplink_log.alarm(level, len(group), first)
        self._alarmed = {(a.invoice_id, a.level) for a in alarms}
        for level in ("at_risk", "overdue", "rejected"):
            self.metrics.alarms.labels(level=level).set(sum(1 for a in alarms if a.level == level))
        self._status = UplinkStatus(
            running=self._task is not None and not self._task.done() and not self._stop.is_set(),
            queue=counts,
            oldest_deadline=oldest,
            last_success=self._last_success,
            last_error=self._last_error,
            last_error_at=self._last_error_at,
            sends_per_s=len([t for t in self._sent_times if t > now - 60.0]) / 60.0,
            mode=self._mode,
            ksef_availability=self.availability.status,
            alarms=tuple(alarms),
        )
        return self._status

    async def _persist_deadline(self, rec: InvoiceRecord, eff: EffectiveDeadline) -> None:
        """An announced failure/unavailability moved the deadline later: store it, so the upload order
        (`list_for_upload`), `/v1/status` and a restart all see it. Only ever later: a total failure
        (no obligation) or a pending failure leaves the stored date as the conservative one."""
        setter = getattr(self.store, "set_deadline", None)
        if setter is None or eff.pending or eff.deadline is None:
            return
        if rec.deadline is None or eff.deadline > rec.deadline:
            await setter(rec.id, eff.deadline)
            log.info("invoice %s: deadline moved %s -> %s (%s)", rec.number, rec.deadline, eff.deadline, eff.reason)

    @property
    def status(self) -> UplinkStatus:
        """The last snapshot (cheap; for `/v1/status`)."""
        return self._status


async def correct_rejected_invoice(store: UplinkStore, client: KsefClient, invoice_id: int,
                                   corrected_xml: bytes, *, kod1_url: str | None = None,
                                   kod2_url: str | None = None, cert_serial: str | None = None):
    """CLI/API entry point for a technical correction of a `rejected` invoice.

    Returns the `CorrectionResult` (KSeF number + checked UPO of the corrected file) after
    `store.record_correction` stored the accepted file with its own hash and the QR links the caller
    derived from THESE bytes (`domain.issuance.seal_document`); the invoice becomes `confirmed`.
    """
    from .correction import CorrectionError, send_technical_correction

    rec = await store.get(invoice_id)
    if rec.state is not InvoiceState.REJECTED:
        raise CorrectionError("local", f"invoice {rec.number} is {rec.state.value}; only a rejected invoice "
                                       "can be technically corrected")
    result = await send_technical_correction(client, original_sha256=rec.sha256, corrected_xml=corrected_xml)
    record = getattr(store, "record_correction", None)
    if record is not None:
        await record(invoice_id, xml=corrected_xml, ksef_number=result.ksef_number, upo=result.upo,
                     session_ref=result.session_ref, invoice_ref=result.invoice_ref, kod1_url=kod1_url,
                     kod2_url=kod2_url, cert_serial=cert_serial)
    return result
