"""Sliding-window rate limits per (group, context, client IP) as KSeF applies them
(protocol.md §9.2): every window applies at once; excess -> 429 with Retry-After."""
from __future__ import annotations

import json
import math
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from . import spec

WINDOWS = (("perSecond", 1.0, "sekundę"), ("perMinute", 60.0, "minutę"), ("perHour", 3600.0, "godzinę"))


@dataclass
class Rejection:
    retry_after_s: int
    detail: str


@dataclass
class RateLimiter:
    enabled: bool = True
    group_limits: dict[str, dict[str, int]] = field(default_factory=spec.production_group_limits)
    _hits: dict[tuple, deque] = field(default_factory=dict)

    @classmethod
    def from_setting(cls, setting: str) -> "RateLimiter":
        """`off`, `prod` (KSeF production values) or a JSON file {group: {perSecond, perMinute, perHour}}."""
        if setting == "off":
            return cls(enabled=False)
        if setting == "prod":
            return cls()
        path = Path(setting)
        if not path.is_file():
            raise ValueError(f"--rate-limits {setting!r}: expected off, prod or a JSON file path")
        limiter = cls()
        limiter.apply_overrides(json.loads(path.read_text(encoding="utf-8")))
        return limiter

    def apply_overrides(self, overrides: dict) -> None:
        for group, values in overrides.items():
            if not isinstance(values, dict) or not set(values) <= {w[0] for w in WINDOWS}:
                raise ValueError(f"rate limit for {group!r} must be an object with perSecond/perMinute/perHour")
            self.group_limits.setdefault(group, {}).update({k: int(v) for k, v in values.items()})

    def reset(self) -> None:
        self._hits.clear()

    def limits_for(self, op: spec.Operation) -> dict[str, int]:
        return self.group_limits.get(op.group, op.limits)

    def check(self, op: spec.Operation, context: str | None, ip: str, now: float) -> Rejection | None:
        """Count one request at `now`; a Rejection if any window is full (then it is not counted)."""
        if not self.enabled:
            return None
        limits = self.limits_for(op)
        key = (op.group, None if op.public else context, ip)
        hits = self._hits.setdefault(key, deque())
        while hits and hits[0] <= now - 3600.0:
            hits.popleft()
        worst: Rejection | None = None
        for name, window, word in WINDOWS:
            limit = limits.get(name)
            if limit is None:
                continue
            inside = [t for t in hits if t > now - window] if window < 3600 else list(hits)
            if len(inside) >= limit:
                wait = max(1, math.ceil(inside[-limit] + window - now))
                if worst is None or wait > worst.retry_after_s:
                    worst = Rejection(wait, f"Przekroczono limit {limit} żądań na {word}."
                                            f" Spróbuj ponownie po {wait} sekundach.")
        if worst is None:
            hits.append(now)
        return worst

    def effective(self) -> dict:
        return {g: {k: v.get(k, 0) for k, _, _ in WINDOWS} for g, v in self.group_limits.items()}
