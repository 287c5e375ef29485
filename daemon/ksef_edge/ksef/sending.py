"""Sending: an online session for the trickle of new invoices, a batch session for a backlog.

Rule 1 of the uplink (module `uplink`): before any request that could put an invoice into KSeF, the
store records `sending` with the session reference. The online session is kept open between steps
(closed when idle, full or old); a batch session is opened, uploaded and closed in one go.
"""
from __future__ import annotations

import logging
import random

from ..store.records import InvoiceRecord
from .batch import build_package
from .client import OnlineSession
from .errors import KsefHttpError, KsefProtocolError, KsefUnavailable
from .outcomes import Outcomes
from .uplink_shared import UplinkParts

log = logging.getLogger("ksef_edge.ksef.uplink")

SESSION_STATUS_FORBIDS = 21180
SESSION_GONE_CODES = {21173, SESSION_STATUS_FORBIDS, 21155}  # no such session / status forbids / invoice limit


class Sender:
    def __init__(self, parts: UplinkParts, outcomes: Outcomes) -> None:
        self._p = parts
        self._outcomes = outcomes
        self._online: OnlineSession | None = None
        self._online_count = 0
        self._online_opened = 0.0
        self._online_last_send = 0.0
        self.active_batch: str | None = None  # being uploaded now: not to be polled as if lost

    # ------------------------------------------------------------------ online (trickle)

    async def _ensure_online(self) -> OnlineSession:
        cfg, clock = self._p.config, self._p.clock
        now = clock.monotonic()
        if self._online is not None and (
            self._online_count >= cfg.online_session_invoices_max
            or now - self._online_opened > cfg.online_session_age_max_s
        ):
            await self.close_online(reason="size/age limit")
        if self._online is None:
            self._online = await self._p.client.open_online_session()
            self._online_count = 0
            self._online_opened = self._online_last_send = clock.monotonic()
            log.info("online session %s opened", self._online.reference_number)
        return self._online

    async def close_online(self, reason: str) -> None:
        session, self._online = self._online, None
        if session is None:
            return
        self._p.touch(session.reference_number)
        try:
            await self._p.client.close_online_session(session.reference_number)
            log.info("online session %s closed (%s)", session.reference_number, reason)
        except KsefHttpError as exc:
            log.info("online session %s not closed: %s", session.reference_number, exc)

    async def close_online_if_idle(self) -> None:
        if self._online is not None and \
                self._p.clock.monotonic() - self._online_last_send >= self._p.config.online_idle_close_s:
            await self.close_online(reason="idle")

    async def send_online(self, records: list[InvoiceRecord]) -> bool:
        store, client = self._p.store, self._p.client
        session = await self._ensure_online()
        ref = session.reference_number
        progress = False
        for rec in records:
            if self._p.stop.is_set():
                break
            assert rec.xml is not None, "list_for_upload must return the XML bytes"
            await store.mark_sending(rec.id, ref)           # rule 1: persist before the request
            self._p.touch(ref)
            try:
                invoice_ref = await client.send_invoice(session, rec.xml, offline_mode=self._p.config.offline_mode)
            except KsefHttpError as exc:                          # a definite refusal: nothing committed
                progress = True
                if exc.status == 429 or exc.status in (401, 403) or SESSION_GONE_CODES & set(exc.codes):
                    await store.mark_requeued(rec.id)
                    if SESSION_GONE_CODES & set(exc.codes):
                        self._online = None
                        return progress
                    raise
                await self._outcomes.reject(rec, str(exc.codes[0] if exc.codes else exc.status),
                                            exc.message or str(exc))
                continue
            await store.mark_sending(rec.id, ref, invoice_ref)
            self._online_count += 1
            self._online_last_send = self._p.clock.monotonic()
            self._p.progress.sent(1, "online")
            progress = True
        return progress

    # ------------------------------------------------------------------ batch (backlog)

    async def send_batch(self, records: list[InvoiceRecord]) -> bool:
        cfg, client = self._p.config, self._p.client
        await self.close_online(reason="switching to batch")
        package = build_package([(f"{rec.id}.xml", rec.xml or b"") for rec in records])
        batch = await client.open_batch_session(package, offline_mode=cfg.offline_mode)
        ref = batch.reference_number
        self.active_batch = ref
        try:
            await self._p.store.mark_sending_many([rec.id for rec in records], ref)  # rule 1: one transaction
            self._p.touch(ref)
            uploads = sorted(batch.uploads, key=lambda u: u.ordinal_number)
            if len(uploads) != len(package.parts):
                raise KsefProtocolError(f"batch {ref}: {len(uploads)} upload URLs for {len(package.parts)} parts")
            for upload, part in zip(uploads, package.parts):
                for attempt in range(cfg.upload_attempts):
                    try:
                        await client.upload_part(upload, part)   # idempotent PUT of the same bytes
                        break
                    except KsefUnavailable:
                        if attempt + 1 == cfg.upload_attempts:
                            raise
                        await self._p.clock.sleep(cfg.backoff_base_s * 2 ** attempt * random.uniform(0.5, 1))
            await self._close_batch(ref)
        finally:
            self.active_batch = None
        log.info("batch session %s closed with %d invoices", ref, len(records))
        self._p.progress.sent(len(records), "batch")
        return True

    async def _close_batch(self, ref: str) -> None:
        """Close the batch we just uploaded, retrying a close whose outcome is unknown. Without this a lost
        close left the session open, so its invoices waited `lost_grace_s` and went out again in a new batch.
        A repeated close either closes it (the first never arrived) or is refused with 21180 because the
        session is no longer open (the first did): either way it is closed, and its status decides the rest."""
        cfg = self._p.config
        for attempt in range(cfg.upload_attempts):
            self._p.touch(ref)
            try:
                await self._p.client.close_batch_session(ref)
                return
            except KsefHttpError as exc:
                if attempt and SESSION_STATUS_FORBIDS in exc.codes:
                    log.info("batch %s: repeated close refused (%s); the earlier close arrived", ref, exc)
                    return
                raise
            except KsefUnavailable:
                if attempt + 1 == cfg.upload_attempts:
                    raise
                await self._p.clock.sleep(cfg.backoff_base_s * 2 ** attempt * random.uniform(0.5, 1))
            finally:
                self._p.touch(ref)
