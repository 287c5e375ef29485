"""KSeF availability (Latarnia + config overrides) -> effective upload deadlines (protocol.md §5.2).

A failure announced while an invoice waits moves its deadline to 7 working days after the end of
the last such failure; a total failure removes the obligation; an ongoing failure (end unknown)
means the deadline is not yet known and certainly later than today. The arithmetic itself lives in
`domain.deadlines.upload_deadline`; this module only decides which announcements apply.
"""
from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from ..civil_time import warsaw_date
from ..domain.deadlines import OfflineMode, upload_deadline
from .models import LatarniaStatus

log = logging.getLogger(__name__)

FAILURE = "FAILURE"
TOTAL_FAILURE = "TOTAL_FAILURE"
MAINTENANCE = "MAINTENANCE"


@dataclass(frozen=True)
class Outage:
    """One announced period: `kind` FAILURE | TOTAL_FAILURE | MAINTENANCE; `end` None while ongoing."""

    kind: str
    start: dt.date
    end: dt.date | None = None
    source: str = "config"


@dataclass(frozen=True)
class EffectiveDeadline:
    """`deadline` None = no obligation (total failure); `pending` = waits for a failure to end."""

    deadline: dt.date | None
    pending: bool = False
    reason: str = ""


def outages_from_latarnia(status: LatarniaStatus, today: dt.date) -> list[Outage]:
    """Group Latarnia messages by event into outages; a status without messages still counts."""
    events: dict[object, dict] = {}
    for msg in status.messages:
        if msg.category not in (FAILURE, TOTAL_FAILURE, MAINTENANCE):
            continue
        key = msg.event_id if msg.event_id is not None else msg.id
        ev = events.setdefault(key, {"kind": msg.category, "start": None, "end": None, "ended": False})
        if msg.category == TOTAL_FAILURE:
            ev["kind"] = TOTAL_FAILURE
        if msg.start is not None:
            start = warsaw_date(msg.start)
            ev["start"] = start if ev["start"] is None else min(ev["start"], start)
        if msg.type == "FAILURE_END":
            ev["ended"] = True
            end_at = msg.end or msg.start
            if end_at is not None:
                ev["end"] = warsaw_date(end_at)
        elif msg.end is not None and msg.category == MAINTENANCE:
            ev["end"] = warsaw_date(msg.end)
    out = [Outage(ev["kind"], ev["start"] or today, ev["end"], "latarnia") for ev in events.values()]
    if status.status in (FAILURE, TOTAL_FAILURE) and not any(o.kind == status.status and o.end is None for o in out):
        out.append(Outage(status.status, today, None, "latarnia"))
    return out


class Availability:
    """What is known about KSeF's announced outages; pure apart from the stored Latarnia view."""

    def __init__(self, overrides: list[Outage] | tuple[Outage, ...] = ()) -> None:
        self._overrides = list(overrides)
        self._latarnia: list[Outage] = []
        self._messages: list = []
        self.status = "UNKNOWN"

    def update(self, status: LatarniaStatus, today: dt.date) -> None:
        """Adopt Latarnia's view; messages seen earlier are kept even if Latarnia stops listing them."""
        self.status = status.status
        known = {m.id: m for m in self._messages}
        known.update({m.id: m for m in status.messages})
        self._messages = list(known.values())
        self._latarnia = outages_from_latarnia(LatarniaStatus(status.status, tuple(self._messages)), today)

    @property
    def outages(self) -> list[Outage]:
        return self._overrides + self._latarnia

    def effective_deadline(self, mode: str, issue_date: dt.date, stored: dt.date | None) -> EffectiveDeadline:
        try:
            mode_enum = OfflineMode(mode)
        except ValueError:
            mode_enum = OfflineMode[str(mode).upper()]
        if mode_enum is OfflineMode.TOTAL_FAILURE:
            return EffectiveDeadline(None, reason="issued in total failure: no obligation")
        horizon = stored or dt.date.max
        # An announcement counts if it came while the invoice was waiting, i.e. by its deadline; a
        # failure extends that deadline, which can bring later announcements in: iterate to a fixpoint.
        for _ in range(len(self.outages) + 1):
            applicable = [o for o in self.outages if o.start <= horizon and (o.end is None or o.end >= issue_date)]
            ends = [o.end for o in applicable if o.kind == FAILURE and o.end is not None]
            if not ends or any(o.kind == FAILURE and o.end is None for o in applicable):
                break
            extended = max(horizon, upload_deadline(OfflineMode.FAILURE, issue_date, failure_ends=ends) or horizon)
            if extended == horizon:
                break
            horizon = extended
        applicable = [o for o in self.outages if o.start <= horizon and (o.end is None or o.end >= issue_date)]
        if any(o.kind == TOTAL_FAILURE for o in applicable):
            return EffectiveDeadline(None, reason="total failure announced: no obligation to send")
        failures = [o for o in applicable if o.kind == FAILURE]
        if any(o.end is None for o in failures):
            return EffectiveDeadline(stored, pending=True, reason="failure ongoing: deadline after it ends")
        ends = [o.end for o in failures if o.end is not None]
        unavailability_end = None
        if mode_enum is OfflineMode.OFFLINE:
            maint = [o.end for o in applicable if o.kind == MAINTENANCE and o.end is not None]
            unavailability_end = max(maint) if maint else None
            if unavailability_end is None:
                return EffectiveDeadline(stored, reason="unavailability end not announced; stored deadline")
        if mode_enum is OfflineMode.FAILURE and not ends:
            return EffectiveDeadline(stored, reason="stored deadline")
        if not ends and mode_enum is OfflineMode.OFFLINE24:
            return EffectiveDeadline(stored if stored else upload_deadline(mode_enum, issue_date))
        computed = upload_deadline(mode_enum, issue_date, unavailability_end=unavailability_end, failure_ends=ends)
        if stored is not None and computed is not None and stored > computed:
            computed = stored  # never shorten a deadline we already promised
        reason = f"failure until {max(ends).isoformat()}" if ends else ""
        return EffectiveDeadline(computed, reason=reason)
