"""The uplink: drains the outbox to KSeF, every invoice exactly once, before its deadline.

Exactly once rests on three rules:
1. Before any request that could put an invoice into KSeF, the store records `sending` with the
   session reference (and, once known, the invoice reference).   -> `sending`
2. An invoice in `sending` is never sent again until KSeF's own view of that session says it is
   not there (looked up by invoice hash) and no request to that session can still be in flight
   (`lost_grace_s` after the last one). Only then does it go back to `issued`.  -> `in_flight`
3. A 440 duplicate answer counts as success only if the original in KSeF has the same hash. -> `outcomes`
A batch session is processed by KSeF only after *we* close it, so a batch session still open
after a crash or lost upload is abandoned (never closed) and its invoices are requeued.

`Uplink` keeps the loop (step, pause, backoff), the policy (online or batch) and the status; its parts
own their state: `sending.Sender` (online/batch sessions), `in_flight.InFlightResolver`,
`outcomes.Outcomes` (accept/reject/duplicate), `upo_fetch.UpoFetcher`, `limits_watch.LimitsWatch`
(rate limits, Latarnia). What they share is `uplink_shared.UplinkParts`.
"""
from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import random

from ..civil_time import end_of_day
from ..store.records import InvoiceRecord, InvoiceState
from . import uplink_log
from .availability import Availability, EffectiveDeadline
from .client import KsefClient
from .errors import KsefAuthError, KsefError, KsefHttpError, KsefUnavailable
from .in_flight import InFlightResolver
from .limits_watch import LimitsWatch
from .outcomes import OnAccepted, Outcomes
from .sending import Sender
from .status import DeadlineAlarm, UplinkMetrics, UplinkStatus
from .store_protocol import UplinkStore
from .uplink_clock import Clock, SystemClock
from .uplink_config import UplinkConfig
from .uplink_shared import Progress, UplinkParts
from .upo_fetch import UpoFetcher

__all__ = ["Uplink", "UplinkConfig"]

log = logging.getLogger(__name__)

STOP_CLEANUP_S = 1.0  # after a cancelled stop, at most this long for the task's own clean-up

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
        on_accepted: OnAccepted | None = None,
    ) -> None:
        self.store = store
        self.client = client
        self.config = config or UplinkConfig()
        self.clock: Clock = clock or client.clock or SystemClock()
        self.metrics = metrics or UplinkMetrics()
        self._stop = asyncio.Event()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._progress = Progress(self.clock, self.metrics)
        parts = UplinkParts(store, client, self.config, self.clock, self.metrics, self._progress, self._stop)
        self._parts = parts
        self._upos = UpoFetcher(parts)
        outcomes = Outcomes(parts, self._upos, on_accepted)
        self._sender = Sender(parts, outcomes)
        self._in_flight = InFlightResolver(parts, self._sender, outcomes, self._upos)
        self._watch = LimitsWatch(parts, availability or Availability())
        self.availability = self._watch.availability
        self._failures = 0
        self._next_status = 0.0
        self._mode = "idle"
        self._alarmed: set[tuple[int, str]] = set()
        self._status = UplinkStatus(False, {}, None, None, None, None, 0.0, "idle", "UNKNOWN")

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> asyncio.Task[None]:
        self._stop.clear()
        self._task = asyncio.create_task(self.run(), name="ksef-uplink")
        return self._task

    def notify(self) -> None:
        """A new invoice is in the outbox: stop waiting."""
        self._wake.set()

    def request_stop(self) -> None:
        """Finish the current step, then end `run()` (e.g. from a signal handler)."""
        self._stop.set()

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
                except Exception as exc:  # the task must outlive any one failure
                    if not isinstance(exc, (KsefError, OSError)):
                        log.exception("uplink step crashed (bug?); will retry")
                    await self._on_failure(exc)
                    continue
                if not progress and not self._stop.is_set():
                    await self._pause(self.config.poll_interval_s if await self._has_in_flight()
                                      else self.config.idle_wait_s)
        finally:
            try:
                await self._sender.close_online(reason="stopping")
            except Exception as exc:  # best effort on the way out
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
        self._progress.error(f"{type(exc).__name__}: {exc}")
        delay = min(self.config.backoff_max_s, self.config.backoff_base_s * 2 ** min(self._failures, 20))
        delay *= random.uniform(0.5, 1.0)
        retry_after = exc.retry_after if isinstance(exc, (KsefUnavailable, KsefHttpError)) else None
        if retry_after:  # a 5xx hint; capped so an outage's "30 s" never outlasts our own backoff ceiling
            delay = max(delay, min(float(retry_after), self.config.backoff_max_s))
        if isinstance(exc, KsefAuthError):
            delay = self.config.backoff_max_s  # needs a person: don't hammer KSeF
            log.error("KSeF authentication refused: %s", exc)
        else:
            log.warning("uplink step failed (%s); retrying in %.1fs", self._progress.last_error, delay)
        self._mode = "backoff"
        await self.refresh_status(force=True)
        await self._pause(delay)

    # ------------------------------------------------------------------ one step

    async def step(self) -> bool:
        """One round: refresh limits/availability, resolve in-flight, fetch UPOs, send. True if anything moved."""
        await self._watch.maybe_refresh_limits()
        await self._watch.maybe_check_latarnia()
        progress = await self._in_flight.resolve()
        progress |= await self._upos.fetch_missing()
        if self._stop.is_set():
            return progress
        queue = await self.store.list_for_upload(self.config.batch_invoices_max)
        if len(queue) >= self.config.batch_threshold:
            self._mode = "batch"
            progress |= await self._sender.send_batch(queue)
        elif queue:
            self._mode = "online"
            progress |= await self._sender.send_online(queue[: self.config.online_sends_per_step])
        else:
            await self._sender.close_online_if_idle()
            self._mode = "idle"
        await self.refresh_status()
        return progress

    async def check_availability(self) -> None:
        """Read Latarnia now and recompute what it means for deadlines (also on demand from the API)."""
        await self._watch.check_availability()

    async def _has_in_flight(self) -> bool:
        counts = await self.store.counts_by_state()
        return bool(counts.get("sending") or counts.get("accepted"))

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
            for rec in await self._parts.all_in(state):
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
            last_success=self._progress.last_success,
            last_error=self._progress.last_error,
            last_error_at=self._progress.last_error_at,
            sends_per_s=self._progress.sends_per_s(),
            mode=self._mode,
            ksef_availability=self.availability.status,
            alarms=tuple(alarms),
        )
        return self._status

    async def _persist_deadline(self, rec: InvoiceRecord, eff: EffectiveDeadline) -> None:
        """An announced failure/unavailability moved the deadline later: store it, so the upload order
        (`list_for_upload`), `/v1/status` and a restart all see it. Only ever later: a total failure
        (no obligation) or a pending failure leaves the stored date as the conservative one."""
        if eff.pending or eff.deadline is None:
            return
        if rec.deadline is None or eff.deadline > rec.deadline:
            await self.store.set_deadline(rec.id, eff.deadline)
            log.info("invoice %s: deadline moved %s -> %s (%s)", rec.number, rec.deadline, eff.deadline, eff.reason)

    @property
    def status(self) -> UplinkStatus:
        """The last snapshot (cheap; for `/v1/status`)."""
        return self._status

