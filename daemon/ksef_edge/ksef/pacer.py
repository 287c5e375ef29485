"""Client-side rate limiting so KSeF never has to answer 429 (protocol.md §9.2).

KSeF counts requests per (context, IP) in sliding windows of 1 s, 1 min and 1 h, all at once.
The pacer keeps the send times of the last hour per endpoint group and waits until every window
has room. The limits come from `GET /rate-limits`; until then the production values are used.

A request is counted from the moment it is allowed (so concurrent requests share the budget) and,
when its answer (or failure) arrives, moved to that moment (`settle`): KSeF counts it when it
*arrives*, which may be any time until then. Counting only the start let a request that spent
longer in flight than the margin (a loaded Pi, a slow link, a virtual clock that moved while it
waited) fall out of our window before it fell out of KSeF's, and the next one drew a 429.
"""
from __future__ import annotations

import asyncio
import bisect
from dataclasses import dataclass

from .uplink_clock import Clock, SystemClock

WINDOWS_S = {"perSecond": 1.0, "perMinute": 60.0, "perHour": 3600.0}


@dataclass(frozen=True)
class Limit:
    per_second: int
    per_minute: int
    per_hour: int

    def windows(self) -> list[tuple[float, int]]:
        return [(1.0, self.per_second), (60.0, self.per_minute), (3600.0, self.per_hour)]

    @classmethod
    def from_api(cls, item: dict) -> "Limit":
        return cls(int(item["perSecond"]), int(item["perMinute"]), int(item["perHour"]))


# Production values (protocol.md §9.2, docs:limity/limity-api.md); replaced by GET /rate-limits.
PRODUCTION_LIMITS: dict[str, Limit] = {
    "onlineSession": Limit(10, 30, 120),
    "invoiceSend": Limit(10, 30, 180),
    "batchSession": Limit(10, 20, 60),
    "invoiceStatus": Limit(30, 120, 1200),
    "sessionList": Limit(5, 10, 60),
    "sessionInvoiceList": Limit(10, 20, 200),
    "sessionMisc": Limit(10, 120, 1200),
    "invoiceDownload": Limit(8, 16, 64),
    "invoiceMetadata": Limit(8, 16, 20),
    "invoiceExport": Limit(8, 16, 20),
    "invoiceExportStatus": Limit(10, 60, 600),
    "other": Limit(10, 30, 120),
}


class Pacer:
    """Sliding-window pacer over all windows of every group, plus 429 `Retry-After` blocks.

    `margin_s` widens every window a little, so jitter between our clock and KSeF's never
    lets two requests fall into one server window that we counted as two.
    """

    def __init__(self, limits: dict[str, Limit] | None = None, *, clock: Clock | None = None,
                 margin_s: float = 0.25) -> None:
        self._limits = dict(limits or PRODUCTION_LIMITS)
        self._clock = clock or SystemClock()
        self._margin_s = margin_s
        self._sent: dict[str, list[float]] = {}  # per group, ascending
        self._blocked_until: dict[str, float] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    @property
    def limits(self) -> dict[str, Limit]:
        return dict(self._limits)

    def update_limits(self, limits: dict[str, Limit]) -> None:
        """Adopt the effective limits from `GET /rate-limits` (unknown groups keep their values)."""
        self._limits.update(limits)

    def block(self, group: str, seconds: float) -> None:
        """KSeF said 429 with `Retry-After: seconds`: nothing in this group until then."""
        until = self._clock.monotonic() + max(0.0, seconds)
        self._blocked_until[group] = max(self._blocked_until.get(group, 0.0), until)

    def delay(self, group: str) -> float:
        """Seconds until one more request of `group` fits every window (0 = now)."""
        now = self._clock.monotonic()
        wait = max(0.0, self._blocked_until.get(group, 0.0) - now)
        limit = self._limits.get(group, self._limits["other"])
        sent = self._sent.get(group)
        if sent:
            expired = bisect.bisect_right(sent, now - 3600.0 - self._margin_s * 2)
            if expired:
                del sent[:expired]
            for window_s, allowed in limit.windows():
                if allowed <= 0:
                    continue
                span = window_s + self._margin_s
                if len(sent) >= allowed:
                    oldest_in_window = sent[-allowed]
                    if oldest_in_window > now - span:
                        wait = max(wait, oldest_in_window + span - now)
        return wait

    async def acquire(self, group: str) -> float:
        """Wait (on the injected clock) until `group` has room, then count one request.

        Returns the stamp to pass to `settle()` once the request is over."""
        lock = self._locks.setdefault(group, asyncio.Lock())
        async with lock:
            while (wait := self.delay(group)) > 0:
                await self._clock.sleep(wait)
            stamp = self._clock.monotonic()
            bisect.insort(self._sent.setdefault(group, []), stamp)
            return stamp

    def settle(self, group: str, stamp: float) -> None:
        """The request counted at `stamp` is over (answered or failed): count it at the later of then and now."""
        now = self._clock.monotonic()
        sent = self._sent.get(group)
        if not sent or now <= stamp:
            return
        i = bisect.bisect_left(sent, stamp)
        if i < len(sent) and sent[i] == stamp:
            del sent[i]
        bisect.insort(sent, now)

    def rate(self, group: str, window_s: float = 60.0) -> float:
        """Requests per second of `group` over the last `window_s` (for status/metrics)."""
        now = self._clock.monotonic()
        sent = self._sent.get(group, ())
        return sum(1 for t in sent if t > now - window_s) / window_s
