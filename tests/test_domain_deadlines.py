"""Upload deadlines per KSeF offline mode (protocol.md §5.2) over the Polish working-day calendar."""
from __future__ import annotations

import datetime as dt

import pytest

from ksef_edge.domain.deadlines import OfflineMode, upload_deadline
from ksef_edge.domain.errors import DomainError
from ksef_edge.domain.holidays import add_working_days, easter_sunday, is_working_day, polish_holidays

D = dt.date


@pytest.mark.parametrize("year, easter", [
    (2019, D(2019, 4, 21)), (2024, D(2024, 3, 31)), (2025, D(2025, 4, 20)), (2026, D(2026, 4, 5)),
    (2027, D(2027, 3, 28)), (2038, D(2038, 4, 25)), (2285, D(2285, 3, 22)),
])
def test_easter_sunday(year, easter):
    assert easter_sunday(year) == easter


def test_2025_holidays_include_wigilia_and_moveable_feasts():
    days = polish_holidays(2025)
    assert len(days) == 14
    assert {D(2025, 4, 21), D(2025, 6, 8), D(2025, 6, 19), D(2025, 12, 24)} <= set(days)
    assert D(2024, 12, 24) not in polish_holidays(2024) and len(polish_holidays(2024)) == 13
    assert D(2026, 6, 4) in polish_holidays(2026)  # Corpus Christi 2026


@pytest.mark.parametrize("issued, deadline, why", [
    (D(2025, 10, 29), D(2025, 10, 30), "ordinary Wednesday"),
    (D(2025, 10, 31), D(2025, 11, 3), "Friday -> Monday (1 Nov falls on Saturday)"),
    (D(2025, 11, 8), D(2025, 11, 10), "issued on a Saturday"),
    (D(2025, 11, 10), D(2025, 11, 12), "11 November"),
    (D(2025, 12, 23), D(2025, 12, 29), "24-26 Dec 2025 are all holidays"),
    (D(2024, 12, 23), D(2024, 12, 24), "24 Dec 2024 was a working day"),
    (D(2025, 12, 31), D(2026, 1, 2), "New Year across the year end"),
    (D(2025, 1, 3), D(2025, 1, 7), "Epiphany on Monday"),
    (D(2025, 4, 17), D(2025, 4, 18), "Good Friday is a working day"),
    (D(2025, 4, 18), D(2025, 4, 22), "Easter Monday"),
    (D(2025, 6, 18), D(2025, 6, 20), "Corpus Christi"),
    (D(2026, 4, 30), D(2026, 5, 4), "May long weekend 2026"),
    (D(2025, 8, 14), D(2025, 8, 18), "Assumption on Friday"),
])
def test_offline24_deadline_is_next_working_day(issued, deadline, why):
    assert upload_deadline(OfflineMode.OFFLINE24, issued) == deadline, why


def test_official_worked_example_failure_during_sending_window():
    # ksef-docs tryby-offline.md: issued Wed 2025-07-08 (offline24), failure announced 07-09, ends Sat 07-12
    assert upload_deadline(OfflineMode.OFFLINE24, D(2025, 7, 8)) == D(2025, 7, 9)
    assert upload_deadline(OfflineMode.OFFLINE24, D(2025, 7, 8), failure_ends=[D(2025, 7, 12)]) == D(2025, 7, 22)


def test_the_last_announced_failure_counts():
    ends = [D(2025, 7, 10), D(2025, 7, 12)]
    assert upload_deadline(OfflineMode.FAILURE, D(2025, 7, 8), failure_ends=ends) == D(2025, 7, 22)
    assert upload_deadline(OfflineMode.FAILURE, D(2025, 7, 8), failure_ends=[D(2025, 7, 10)]) == D(2025, 7, 21)


def test_failure_mode_over_christmas_and_new_year():
    # ends Mon 22 Dec 2025: 23, 29, 30, 31 Dec, 2, 5, 7 Jan (24-26 Dec, 1 and 6 Jan are holidays)
    assert upload_deadline(OfflineMode.FAILURE, D(2025, 12, 22), failure_ends=[D(2025, 12, 22)]) == D(2026, 1, 7)


def test_offline_mode_counts_from_the_end_of_unavailability():
    assert upload_deadline(OfflineMode.OFFLINE, D(2025, 12, 18), unavailability_end=D(2025, 12, 19)) == D(2025, 12, 22)
    assert upload_deadline(OfflineMode.OFFLINE, D(2025, 12, 18), unavailability_end=D(2025, 12, 23)) == D(2025, 12, 29)
    # a failure announced meanwhile extends it
    assert upload_deadline(OfflineMode.OFFLINE, D(2025, 7, 8), unavailability_end=D(2025, 7, 9),
                           failure_ends=[D(2025, 7, 12)]) == D(2025, 7, 22)


def test_total_failure_removes_the_obligation():
    assert upload_deadline(OfflineMode.TOTAL_FAILURE, D(2025, 7, 8)) is None
    assert upload_deadline(OfflineMode.TOTAL_FAILURE, D(2025, 7, 8), failure_ends=[D(2025, 7, 12)]) is None


def test_modes_missing_their_announcement_are_refused():
    with pytest.raises(DomainError, match="unavailability_end"):
        upload_deadline(OfflineMode.OFFLINE, D(2025, 7, 8))
    with pytest.raises(DomainError, match="failure_ends"):
        upload_deadline(OfflineMode.FAILURE, D(2025, 7, 8))
    with pytest.raises(DomainError, match="civil date"):
        upload_deadline(OfflineMode.OFFLINE24, dt.datetime(2025, 7, 8, 12))


def test_working_day_arithmetic():
    assert not is_working_day(D(2025, 12, 24)) and is_working_day(D(2024, 12, 24))
    assert add_working_days(D(2025, 7, 12), 7) == D(2025, 7, 22)
    with pytest.raises(ValueError):
        add_working_days(D(2025, 7, 12), 0)
