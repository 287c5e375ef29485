"""An independent oracle for upload deadlines: the official rules, computed WITHOUT the product's own
holidays/deadlines code, to compare the product against.

Holidays: the PyPI `holidays` package (its Poland calendar follows the ustawa z dnia 18 stycznia 1951 r. o dniach
wolnych od pracy, Dz.U. 1951 nr 4 poz. 28 as amended; 24 December is a day off from 2025 on, ustawa z dnia
6 grudnia 2024 r., Dz.U. 2024 poz. 1965). `WIGILIA` below pins that amendment so an old `holidays` release
cannot silently weaken the oracle.
Deadlines (KSeF protocol notes §5.2, art. 106nda / 106nh / 106nf ustawy o VAT):
- offline24: by the next working day after the issue date;
- offline (KSeF unavailability): by the next working day after the unavailability ends;
- failure ("awaria"): within 7 working days from the end of the (last announced) failure;
- a failure announced while an offline24/offline invoice waits moves it to 7 working days after that failure.
A working day is Monday-Friday that is not a public holiday. All dates are civil dates in Europe/Warsaw.
"""
from __future__ import annotations

import datetime as dt
import functools
from zoneinfo import ZoneInfo

import holidays

WARSAW = ZoneInfo("Europe/Warsaw")
WIGILIA = {2024: False, 2025: True, 2026: True, 2027: True}  # 24 XII a public holiday? (Dz.U. 2024 poz. 1965)


@functools.cache
def _poland(year: int) -> frozenset[dt.date]:
    return frozenset(holidays.country_holidays("PL", years=year))


def is_working_day(day: dt.date) -> bool:
    return day.weekday() < 5 and day not in _poland(day.year)


def working_days_after(day: dt.date, n: int) -> dt.date:
    """The n-th working day strictly after `day` (counted one calendar day at a time)."""
    while n:
        day += dt.timedelta(days=1)
        n -= is_working_day(day)
    return day


def offline24(issue: dt.date, failure_end: dt.date | None = None) -> dt.date:
    base = working_days_after(issue, 1)
    return base if failure_end is None else max(base, working_days_after(max(failure_end, issue), 7))


def offline(issue: dt.date, unavailability_end: dt.date) -> dt.date:
    return working_days_after(max(unavailability_end, issue), 1)


def failure(issue: dt.date, failure_end: dt.date) -> dt.date:
    return working_days_after(max(failure_end, issue), 7)


def warsaw_date(instant: dt.datetime) -> dt.date:
    return instant.astimezone(WARSAW).date()
