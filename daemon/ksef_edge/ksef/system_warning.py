"""KSeF's `X-System-Warning` response header (API 2.6.0): non-blocking warnings for the integrator.

Format (open-api.json `components/schemas/SystemWarning`): `[code]: message | [code]: message`, ASCII-folded.
A warning does not change the operation's result, so it is only logged (once per distinct value) and
shown in GET /v1/status (`ksef.system_warning`), where the shop owner or the fleet sees it.
"""
from __future__ import annotations

import datetime as dt
import logging
import re
import threading
from collections.abc import Mapping
from typing import Any

log = logging.getLogger(__name__)

HEADER = "X-System-Warning"
_ONE = re.compile(r"\[(?P<code>[^\]]+)\]: (?P<message>[^|]+)")
MAX_LEN = 2000  # a header is untrusted input: bounded before it is kept or logged


def parse_system_warning(value: str) -> list[dict[str, str]]:
    """`[{code, message}]` per the official regex; text that does not match is kept whole as code "?"."""
    value = value[:MAX_LEN]
    found = [{"code": m.group("code").strip(), "message": m.group("message").strip()} for m in _ONE.finditer(value)]
    if not found and value.strip():
        found = [{"code": "?", "message": value.strip()}]
    return found


class SystemWarnings:
    """The last `X-System-Warning` KSeF sent (process-wide: every client of this daemon reports here)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._raw: str | None = None
        self._at: dt.datetime | None = None
        self._path: str | None = None
        self.seen = 0

    def note(self, headers: Mapping[str, str], path: str = "") -> None:
        """Record the header if the response carries one (cheap when it does not)."""
        raw = headers.get(HEADER)
        if not raw:
            return
        raw = raw[:MAX_LEN]
        with self._lock:
            self.seen += 1
            new = raw != self._raw
            self._raw, self._at, self._path = raw, dt.datetime.now(dt.UTC), path
        if new:
            log.warning("KSeF system warning on %s: %s", path or "?", raw)

    def to_dict(self) -> dict[str, Any] | None:
        with self._lock:
            if self._raw is None:
                return None
            return {"warnings": parse_system_warning(self._raw), "raw": self._raw, "path": self._path,
                    "at": self._at.isoformat() if self._at else None, "seen": self.seen}

    def clear(self) -> None:
        with self._lock:
            self._raw = self._at = self._path = None
            self.seen = 0


SYSTEM_WARNINGS = SystemWarnings()
