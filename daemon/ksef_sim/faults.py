"""Fault injection per endpoint (CLI `--fault`, JSON file, or POST /admin/faults).

Rule text: `PATH_GLOB=KIND[:PROBABILITY[:COUNT]]`, optionally prefixed by a method (`POST `).
PATH_GLOB is matched (fnmatch) against the API path without the `/v2/` prefix, e.g.
`sessions/online/*/invoices`; part uploads are `storage/batch/*`.
KIND: an HTTP status 500-599; `timeout` (hold the request, then drop it unanswered);
`reset` (TCP reset at once); `slow` (answer late); `drop` (commit, then close without an answer);
`hold` (keep the request unanswered while the rule is installed, then handle it normally: removing the
rule, by DELETE /admin/faults or a replacing POST, releases it; lets a test kill a client while its request
is surely in flight; a used-up COUNT stops new holds but keeps the held ones held).
`timeout@S` / `slow@S` / `hold@S` set the delay in seconds (defaults 120 / 2 / 60, the longest hold).
"""
from __future__ import annotations

import asyncio
import fnmatch
import json
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

KINDS = ("timeout", "reset", "slow", "drop", "hold")
DEFAULT_DELAY_S = {"timeout": 120.0, "slow": 2.0, "hold": 60.0}


@dataclass
class FaultRule:
    path: str
    kind: str                         # "500".."599" | timeout | reset | slow | drop
    probability: float = 1.0
    count: int | None = None          # apply at most this many times (None: forever)
    method: str | None = None
    delay_s: float | None = None
    held: int = field(default=0, compare=False)   # `hold`: requests held right now (GET /admin/faults)

    def __post_init__(self) -> None:
        self.kind = str(self.kind)
        if not (self.kind in KINDS or (self.kind.isdigit() and 500 <= int(self.kind) <= 599)):
            raise ValueError(f"fault kind {self.kind!r}: use a 5xx status or one of {', '.join(KINDS)}")
        if not 0.0 <= float(self.probability) <= 1.0:
            raise ValueError(f"fault probability {self.probability!r} must be between 0 and 1")
        self.probability = float(self.probability)
        self.path = self.path.strip().lstrip("/")
        if self.method:
            self.method = self.method.upper()
        if self.delay_s is None and self.kind in DEFAULT_DELAY_S:
            self.delay_s = DEFAULT_DELAY_S[self.kind]

    @classmethod
    def parse(cls, text: str) -> "FaultRule":
        method = None
        spec = text.strip()
        if " " in spec.split("=", 1)[0]:
            method, spec = spec.split(" ", 1)
        if "=" not in spec:
            raise ValueError(f"fault {text!r}: expected PATH_GLOB=KIND[:PROBABILITY[:COUNT]],"
                             " e.g. 'sessions/online/*/invoices=500:0.1'")
        path, rest = spec.split("=", 1)
        parts = rest.split(":")
        kind, delay = parts[0], None
        if "@" in kind:
            kind, delay_text = kind.split("@", 1)
            delay = float(delay_text)
        probability = float(parts[1]) if len(parts) > 1 and parts[1] else 1.0
        count = int(parts[2]) if len(parts) > 2 and parts[2] else None
        return cls(path=path, kind=kind, probability=probability, count=count, method=method, delay_s=delay)

    @classmethod
    def from_dict(cls, data: dict) -> "FaultRule":
        allowed = {"path", "kind", "probability", "count", "method", "delay_s"}
        unknown = set(data) - allowed
        if unknown:
            raise ValueError(f"fault rule has unknown keys {sorted(unknown)}; allowed: {sorted(allowed)}")
        if "path" not in data or "kind" not in data:
            raise ValueError("fault rule needs 'path' and 'kind'")
        return cls(**data)

    def matches(self, method: str, api_path: str) -> bool:
        if self.method and self.method != method:
            return False
        return fnmatch.fnmatchcase(api_path.lstrip("/"), self.path)


class FaultInjector:
    def __init__(self, rules: list[FaultRule] | None = None, seed: int | None = None) -> None:
        self.rules: list[FaultRule] = list(rules or [])
        self._random = random.Random(seed)

    @staticmethod
    def load_file(path: Path) -> list[FaultRule]:
        data = json.loads(path.read_text(encoding="utf-8"))
        items = data.get("rules", data) if isinstance(data, dict) else data
        return [FaultRule.from_dict(item) for item in items]

    def pick(self, method: str, api_path: str) -> FaultRule | None:
        """The first matching rule that fires for this request (consumes one of its `count`)."""
        for rule in self.rules:
            if not rule.matches(method, api_path):
                continue
            if rule.count is not None and rule.count <= 0:    # a used-up hold rule, kept to keep holding
                continue
            if self._random.random() >= rule.probability:
                continue
            if rule.count is not None:
                rule.count -= 1
                if rule.count <= 0 and rule.kind != "hold":
                    self.rules.remove(rule)
            return rule
        return None

    async def hold(self, rule: FaultRule) -> None:
        """Wait while `rule` is installed (removing it releases the request), at most its delay."""
        deadline = time.monotonic() + (rule.delay_s or 0.0)
        rule.held += 1
        try:
            while any(r is rule for r in self.rules) and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
        finally:
            rule.held -= 1

    def describe(self) -> list[dict]:
        return [asdict(r) for r in self.rules]
