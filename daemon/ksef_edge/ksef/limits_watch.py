"""Pacing and availability inputs: KSeF's published rate limits (fed to the client's `Pacer`) and
Latarnia's availability announcements (fed to `Availability`, which moves deadlines).

Both are read on their own schedule, never on every step; neither failing stops uploads.
"""
from __future__ import annotations

import logging

from ..civil_time import warsaw_date
from .availability import Availability
from .errors import KsefError, KsefHttpError, KsefUnavailable
from .uplink_shared import UplinkParts

log = logging.getLogger("ksef_edge.ksef.uplink")

LIMITS_RETRY_MAX_S = 300.0  # GET /rate-limits failed: ask again within this long, not after rate_limits_interval_s


class LimitsWatch:
    def __init__(self, parts: UplinkParts, availability: Availability) -> None:
        self._p = parts
        self.availability = availability
        self._limits_failures = 0
        self._next_latarnia = 0.0
        self._next_limits = 0.0

    async def maybe_refresh_limits(self) -> None:
        cfg = self._p.config
        now = self._p.clock.monotonic()
        if now < self._next_limits:
            return
        self._next_limits = now + cfg.rate_limits_interval_s
        try:
            self._p.client.pacer.update_limits(await self._p.client.rate_limits())
            self._limits_failures = 0
        except KsefHttpError as exc:
            log.info("GET /rate-limits refused (%s); keeping production limits", exc)
        except KsefUnavailable as exc:
            # not answered (KSeF down at start-up): ask again soon rather than pace by guesses for an
            # hour; the rest of the step goes on (it fails by itself if KSeF is really down)
            self._limits_failures += 1
            retry = min(cfg.rate_limits_interval_s, LIMITS_RETRY_MAX_S,
                        cfg.poll_interval_s * 2 ** min(self._limits_failures - 1, 20))
            self._next_limits = now + retry
            log.info("GET /rate-limits failed (%s); production limits until it answers, asking again in %.1fs",
                     exc, retry)

    async def maybe_check_latarnia(self) -> None:
        now = self._p.clock.monotonic()
        if now < self._next_latarnia or not self._p.client.env.latarnia_base:
            return
        self._next_latarnia = now + self._p.config.latarnia_interval_s
        await self.check_availability()

    async def check_availability(self) -> None:
        """Read Latarnia now and recompute what it means for deadlines (also on demand from the API)."""
        try:
            status = await self._p.client.latarnia_status()
        except KsefError as exc:  # Latarnia down is information, not a reason to stop uploading
            log.info("Latarnia not reachable: %s", exc)
            return
        before = self.availability.status
        self.availability.update(status, warsaw_date(self._p.clock.now()))
        if status.status != before:
            log.warning("KSeF availability (Latarnia): %s -> %s", before, status.status)
