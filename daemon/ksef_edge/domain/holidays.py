"""Polish statutory public holidays (ustawa o dniach wolnych od pracy) and working days.

Non-working: Saturdays, Sundays and the holidays below. 24 December (Wigilia) is a holiday from
2025 (ustawa z 6 XII 2024). Easter is computed with the Gregorian computus (Meeus/Jones/Butcher).
"""
from __future__ import annotations

import datetime as dt
import functools

WIGILIA_FROM_YEAR = 2025


def easter_sunday(year: int) -> dt.date:
    a = year % 19
    b, c = divmod(year, 100)
    d, e = divmod(b, 4)
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    l = (32 + 2 * e + 2 * i - h - k) % 7  # noqa: E741 - the computus's own name
    m = (a + 11 * h + 22 * l) // 451
    month, day = divmod(h + l - 7 * m + 114, 31)
    return dt.date(year, month, day + 1)


@functools.cache
def polish_holidays(year: int) -> dict[dt.date, str]:
    easter = easter_sunday(year)
    days = {
        dt.date(year, 1, 1): "Nowy Rok",
        dt.date(year, 1, 6): "Święto Trzech Króli",
        easter: "Wielkanoc",
        easter + dt.timedelta(days=1): "Poniedziałek Wielkanocny",
        dt.date(year, 5, 1): "Święto Pracy",
        dt.date(year, 5, 3): "Święto Konstytucji 3 Maja",
        easter + dt.timedelta(days=49): "Zielone Świątki",
        easter + dt.timedelta(days=60): "Boże Ciało",
        dt.date(year, 8, 15): "Wniebowzięcie Najświętszej Maryi Panny",
        dt.date(year, 11, 1): "Wszystkich Świętych",
        dt.date(year, 11, 11): "Narodowe Święto Niepodległości",
        dt.date(year, 12, 25): "Boże Narodzenie (pierwszy dzień)",
        dt.date(year, 12, 26): "Boże Narodzenie (drugi dzień)",
    }
    if year >= WIGILIA_FROM_YEAR:
        days[dt.date(year, 12, 24)] = "Wigilia Bożego Narodzenia"
    return days


def is_holiday(day: dt.date) -> bool:
    return day in polish_holidays(day.year)


def is_working_day(day: dt.date) -> bool:
    return day.weekday() < 5 and not is_holiday(day)


def next_working_day(day: dt.date) -> dt.date:
    """The first working day strictly after `day`."""
    return add_working_days(day, 1)


def add_working_days(day: dt.date, count: int) -> dt.date:
    """The `count`-th working day strictly after `day` (count >= 1)."""
    if count < 1:
        raise ValueError("count must be at least 1")
    current = day
    while count:
        current += dt.timedelta(days=1)
        if is_working_day(current):
            count -= 1
    return current
