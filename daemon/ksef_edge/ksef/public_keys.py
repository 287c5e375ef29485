"""MF public keys (`GET /security/public-key-certificates`): when to fetch them again, without a restart.

When MF re-certifies a key its `publicKeyId` stays the same (ksef-docs `klucze-publiczne-do-szyfrowania.md`
§3.1), so error 21470 ("unknown key") never comes and a daemon that only refetched on 21470 kept the old
certificate until it expired, then stopped sending until restarted (issue #17). So the list is fetched
again once a day and before the validTo of any cached key now in use; a failed refresh keeps using a
cached key that is still valid (the refresh is retried on the next call, at most every `RETRY_MIN`).
"""
from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Awaitable, Callable

from .crypto import MfPublicKey
from .errors import KsefHttpError, KsefProtocolError, KsefUnavailable

log = logging.getLogger(__name__)

REFRESH_EVERY = dt.timedelta(hours=24)
BEFORE_EXPIRY = dt.timedelta(hours=1)
RETRY_MIN = dt.timedelta(minutes=5)  # never hammer the endpoint (a key near its end may have no successor yet)


def refresh_due(keys: list[MfPublicKey], fetched_at: dt.datetime | None, now: dt.datetime) -> bool:
    """True when the cached list must be fetched again: none yet, a day old, or a key in use ends within the hour."""
    if not keys or fetched_at is None:
        return True
    age = now - fetched_at
    if age >= REFRESH_EVERY:
        return True
    in_use = [k.valid_to for k in keys if k.valid_from <= now <= k.valid_to]
    if not in_use or now >= min(in_use) - BEFORE_EXPIRY:
        return age >= RETRY_MIN
    return False


class PublicKeyCache:
    """The MF public key list with its fetch time; `get` refreshes it when `refresh_due` says so."""

    def __init__(self) -> None:
        self.keys: list[MfPublicKey] = []
        self.fetched_at: dt.datetime | None = None
        self.attempted_at: dt.datetime | None = None

    async def get(self, fetch: Callable[[], Awaitable[list[MfPublicKey]]], now: dt.datetime, *,
                  refresh: bool = False) -> list[MfPublicKey]:
        stale = refresh_due(self.keys, self.fetched_at, now)
        if stale and not refresh and self.keys and self.attempted_at is not None and now - self.attempted_at < RETRY_MIN:
            stale = False  # the last attempt failed moments ago: use what we have until RETRY_MIN
        if refresh or stale:
            self.attempted_at = now
            try:
                keys = await fetch()
            except (KsefUnavailable, KsefHttpError, KsefProtocolError) as exc:
                usable = [k for k in self.keys if k.valid_from <= now <= k.valid_to]
                if refresh or not usable:
                    raise
                log.warning("MF public keys not refreshed (%s); using the cached ones until %s", exc,
                            min(k.valid_to for k in usable).isoformat())
                return self.keys
            if self.keys and {k.public_key_id: k.valid_to for k in keys} != {k.public_key_id: k.valid_to for k in self.keys}:
                log.info("MF public keys changed: %s", ", ".join(f"{k.public_key_id[:8]}… until {k.valid_to.date()}"
                                                                 for k in keys))
            self.keys, self.fetched_at = keys, now
        return self.keys
