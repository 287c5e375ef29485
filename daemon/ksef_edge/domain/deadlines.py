"""Offline modes and the legal deadline to send an offline invoice to KSeF (protocol.md §5.2).

| mode           | deadline                                                            |
|----------------|---------------------------------------------------------------------|
| OFFLINE24      | next working day after the issue date (art. 106nda)                 |
| OFFLINE        | next working day after KSeF unavailability ends (art. 106nh)        |
| FAILURE        | 7 working days after the failure ends (art. 106nf)                  |
| TOTAL_FAILURE  | no obligation to send (None)                                        |

A failure announced while an invoice is waiting to be sent moves its deadline to 7 working days
after the end of the *last* announced failure (ksef-docs worked example: issued Wed 2025-07-08,
failure announced 07-09 ending Sat 07-12 -> Tue 2025-07-22). A deadline is a civil date in
Europe/Warsaw: upload by the end of that day.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from enum import Enum

from .errors import DomainError
from .holidays import add_working_days, next_working_day

FAILURE_WORKING_DAYS = 7


class OfflineMode(str, Enum):
    OFFLINE24 = "offline24"  # taxpayer's choice
    OFFLINE = "offline"  # KSeF unavailability announced in BIP / interface software
    FAILURE = "failure"  # "awaria" announced by MF
    TOTAL_FAILURE = "total_failure"  # "awaria całkowita" announced in mass media

    @property
    def needs_qr_codes(self) -> bool:
        return self is not OfflineMode.TOTAL_FAILURE


def _as_date(value: object, name: str) -> dt.date:
    if isinstance(value, dt.datetime) or not isinstance(value, dt.date):
        raise DomainError(f"{name} must be a civil date (Europe/Warsaw), got {value!r}")
    return value


def upload_deadline(
    mode: OfflineMode,
    issue_date: dt.date,
    *,
    unavailability_end: dt.date | None = None,
    failure_ends: Iterable[dt.date] = (),
) -> dt.date | None:
    """Last day to send the invoice, or None when there is no obligation (total failure).

    `failure_ends`: end dates of the failures announced while this invoice was waiting to be sent
    (for FAILURE mode: at least the failure it was issued in). While a failure is still going on
    its end is unknown; recompute when it is announced.
    """
    mode = OfflineMode(mode)
    issue_date = _as_date(issue_date, "issue_date")
    ends = [_as_date(end, "failure_ends[]") for end in failure_ends]
    if mode is OfflineMode.TOTAL_FAILURE:
        return None
    if mode is OfflineMode.OFFLINE24:
        base: dt.date | None = next_working_day(issue_date)
    elif mode is OfflineMode.OFFLINE:
        if unavailability_end is None:
            raise DomainError("OFFLINE mode needs unavailability_end (the announced end of KSeF unavailability)")
        end = _as_date(unavailability_end, "unavailability_end")
        base = next_working_day(max(end, issue_date))
    else:  # FAILURE
        if not ends:
            raise DomainError("FAILURE mode needs failure_ends (the announced end of the failure)")
        base = None
    if ends:
        after_failure = add_working_days(max(max(ends), issue_date), FAILURE_WORKING_DAYS)
        return after_failure if base is None else max(base, after_failure)
    return base
