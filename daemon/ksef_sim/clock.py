"""A virtual clock, so rate-limit windows, challenge ages and token lifetimes can be tested
without sleeping: tests move it forward through the admin API."""
from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timezone


@dataclass
class VirtualClock:
    """Real UTC time plus an offset; optionally frozen at a fixed instant."""

    offset_s: float = 0.0
    frozen_at: float | None = None

    def time(self) -> float:
        """Seconds since the epoch on the virtual timeline."""
        if self.frozen_at is not None:
            return self.frozen_at
        return time.time() + self.offset_s

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.time(), tz=timezone.utc)

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("the clock only moves forward: advance_s must be >= 0")
        if self.frozen_at is not None:
            self.frozen_at += seconds
        else:
            self.offset_s += seconds

    def freeze(self) -> None:
        if self.frozen_at is None:
            self.frozen_at = self.time()

    def unfreeze(self) -> None:
        if self.frozen_at is not None:
            self.offset_s = self.frozen_at - time.time()
            self.frozen_at = None

    def set(self, when: datetime) -> None:
        if when.tzinfo is None:
            raise ValueError("set needs an ISO date-time with a UTC offset, e.g. 2026-01-05T10:00:00+00:00")
        target = when.timestamp()
        if self.frozen_at is not None:
            self.frozen_at = target
        else:
            self.offset_s = target - time.time()

    def describe(self) -> dict:
        return {"now": iso(self.now()), "offsetSeconds": self.offset_s, "frozen": self.frozen_at is not None}


def iso(when: datetime) -> str:
    """KSeF date-time form: ISO 8601 with milliseconds and an explicit offset."""
    return when.isoformat(timespec="milliseconds")


def parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
