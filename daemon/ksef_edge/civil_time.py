"""Polish civil time: the one place `Europe/Warsaw` is named.

An invoice's issue date (P_1), its invoice-number month and its upload deadline are Warsaw civil
dates; a deadline is met if the upload happens before the END of that day in Warsaw.
"""
from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

WARSAW = ZoneInfo("Europe/Warsaw")


def warsaw_date(when: dt.datetime) -> dt.date:
    """The Warsaw calendar date of an aware instant."""
    return when.astimezone(WARSAW).date()


def end_of_day(day: dt.date) -> dt.datetime:
    """The instant a (deadline) day ends in Warsaw: midnight at the start of the next day."""
    return dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tzinfo=WARSAW)
