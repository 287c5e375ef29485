"""Time as the uplink sees it, injectable so tests can run 30 simulated minutes in milliseconds."""
from __future__ import annotations

import asyncio
import datetime as dt
import time
from typing import Awaitable, Callable, Protocol


class Clock(Protocol):
    def monotonic(self) -> float:
        """Seconds on a clock that never goes back (pacing, backoff, idle timers)."""
        ...

    def now(self) -> dt.datetime:
        """Aware wall-clock time (deadlines, key validity, token expiry)."""
        ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def monotonic(self) -> float:
        return time.monotonic()

    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.timezone.utc)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


class VirtualClock:
    """A clock that jumps instead of sleeping. `on_advance(seconds)` lets a test move a peer
    (e.g. the simulator's virtual clock) in step."""

    def __init__(self, start: dt.datetime | None = None,
                 on_advance: Callable[[float], Awaitable[None]] | None = None) -> None:
        self._t = 0.0
        self._start = start or dt.datetime(2026, 3, 2, 8, 0, tzinfo=dt.timezone.utc)
        self._on_advance = on_advance

    def monotonic(self) -> float:
        return self._t

    def now(self) -> dt.datetime:
        return self._start + dt.timedelta(seconds=self._t)

    async def sleep(self, seconds: float) -> None:
        if seconds > 0:
            self._t += seconds
            if self._on_advance is not None:
                await self._on_advance(seconds)
        await asyncio.sleep(0)  # still yield, so other tasks run
