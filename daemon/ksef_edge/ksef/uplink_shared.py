"""What the uplink's parts share: the store, the client, the settings, and a record of progress.

Each part (`sending`, `in_flight`, `upo_fetch`, `outcomes`, `limits_watch`) owns its own state; what
more than one of them reads or writes lives here, in one place:
- `Progress`: last success / last error (for `/v1/status`) and the sends of the last minute;
- `RecentTimes`: per KSeF session, the time of our last request to it (rule 2's grace period) or of
  our last poll of it; bounded, so a daemon that runs for months keeps a few hundred entries at most.
"""
from __future__ import annotations

import asyncio
import base64
import datetime as dt
from collections import OrderedDict, defaultdict, deque
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from ..store.records import InvoiceRecord, InvoiceState
from .client import KsefClient
from .status import UplinkMetrics
from .store_protocol import UplinkStore
from .uplink_clock import Clock
from .uplink_config import UplinkConfig

PAGE = 500
RECENT_MAX = 512  # sessions remembered (touch/poll times); an older one is long past its grace period
SENT_WINDOW_S = 60.0

V = TypeVar("V")


def b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode("ascii")


def utcnow() -> dt.datetime:
    # The store stamps `updated_at` with the real wall clock, so grace periods compare against it.
    return dt.datetime.now(dt.timezone.utc)


def by_session(records: list[InvoiceRecord]) -> dict[str, list[InvoiceRecord]]:
    """Records by their KSeF session reference ("" for none), in the order given."""
    out: dict[str, list[InvoiceRecord]] = defaultdict(list)
    for rec in records:
        out[rec.ksef_session_ref or ""].append(rec)
    return out


class RecentTimes(Generic[V]):
    """key -> value, the least recently set dropped beyond `maximum` (a bounded memory of sessions)."""

    def __init__(self, maximum: int = RECENT_MAX) -> None:
        self._items: OrderedDict[str, V] = OrderedDict()
        self._max = maximum

    def get(self, key: str) -> V | None:
        return self._items.get(key)

    def set(self, key: str, value: V) -> None:
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self._max:
            self._items.popitem(last=False)

    def __len__(self) -> int:
        return len(self._items)


@dataclass
class Progress:
    """What went well and what went wrong last (the status snapshot reads it)."""

    clock: Clock
    metrics: UplinkMetrics
    last_success: dt.datetime | None = None
    last_error: str | None = None
    last_error_at: dt.datetime | None = None
    _sent: deque[float] = field(default_factory=deque)  # monotonic send times within SENT_WINDOW_S

    def success(self) -> None:
        self.last_success = self.clock.now()
        self.metrics.last_success.set(self.last_success.timestamp())

    def error(self, message: str) -> None:
        self.last_error, self.last_error_at = message, self.clock.now()

    def sent(self, n: int, path: str) -> None:
        self.metrics.sent.labels(path=path).inc(n)
        now = self.clock.monotonic()
        self._sent.extend([now] * n)
        self._forget_sent(now)
        self.success()

    def sends_per_s(self) -> float:
        self._forget_sent(self.clock.monotonic())
        return len(self._sent) / SENT_WINDOW_S

    def _forget_sent(self, now: float) -> None:
        while self._sent and self._sent[0] <= now - SENT_WINDOW_S:
            self._sent.popleft()


@dataclass
class UplinkParts:
    """The uplink's shared context, handed to each part."""

    store: UplinkStore
    client: KsefClient
    config: UplinkConfig
    clock: Clock
    metrics: UplinkMetrics
    progress: Progress
    stop: asyncio.Event
    touched: RecentTimes[dt.datetime] = field(default_factory=RecentTimes)  # session ref -> our last request

    async def all_in(self, state: InvoiceState) -> list[InvoiceRecord]:
        out: list[InvoiceRecord] = []
        after = 0
        while True:
            page = await self.store.list_oldest_first(state=state, limit=PAGE, after=after)
            out.extend(page)
            if len(page) < PAGE:
                return out
            after = page[-1].id

    def touch(self, ref: str) -> None:
        self.touched.set(ref, utcnow())
