"""Which announcements move which deadlines (protocol.md §5.2), without a network."""
from __future__ import annotations

import datetime as dt

from ksef_edge.ksef.availability import Availability, Outage, outages_from_latarnia
from ksef_edge.ksef.models import LatarniaStatus

D = dt.date


def test_official_worked_example_failure_moves_offline24_deadline_to_tuesday_22nd():
    a = Availability([Outage("FAILURE", D(2025, 7, 9), D(2025, 7, 12))])
    assert a.effective_deadline("offline24", D(2025, 7, 8), D(2025, 7, 9)).deadline == D(2025, 7, 22)


def test_failure_that_ended_before_issue_or_started_after_deadline_changes_nothing():
    a = Availability([Outage("FAILURE", D(2025, 7, 1), D(2025, 7, 3)), Outage("FAILURE", D(2025, 7, 10), D(2025, 7, 11))])
    assert a.effective_deadline("offline24", D(2025, 7, 8), D(2025, 7, 9)).deadline == D(2025, 7, 9)


def test_a_second_failure_inside_the_extended_window_restarts_the_count():
    a = Availability([Outage("FAILURE", D(2025, 7, 9), D(2025, 7, 12)), Outage("FAILURE", D(2025, 7, 21), D(2025, 7, 23))])
    # 7 working days after Wed 07-23: Thu 24, Fri 25, Mon 28 .. Fri 08-01 (7th)
    assert a.effective_deadline("offline24", D(2025, 7, 8), D(2025, 7, 9)).deadline == D(2025, 8, 1)


def test_ongoing_failure_leaves_the_deadline_pending_and_total_failure_removes_it():
    ongoing = Availability([Outage("FAILURE", D(2025, 7, 9), None)])
    eff = ongoing.effective_deadline("offline24", D(2025, 7, 8), D(2025, 7, 9))
    assert eff.pending
    total = Availability([Outage("FAILURE", D(2025, 7, 9), D(2025, 7, 12)), Outage("TOTAL_FAILURE", D(2025, 7, 15))])
    assert total.effective_deadline("offline24", D(2025, 7, 8), D(2025, 7, 9)).deadline is None


def test_offline_mode_uses_the_announced_end_of_unavailability():
    a = Availability([Outage("MAINTENANCE", D(2025, 7, 8), D(2025, 7, 11))])  # ends Friday
    assert a.effective_deadline("offline", D(2025, 7, 8), None).deadline == D(2025, 7, 14)


def test_latarnia_messages_become_outages_grouped_by_event():
    status = LatarniaStatus.from_api({"status": "AVAILABLE", "messages": [
        {"id": "a", "eventId": 1, "category": "FAILURE", "type": "FAILURE_START", "start": "2025-07-09T08:00:00+02:00"},
        {"id": "b", "eventId": 1, "category": "FAILURE", "type": "FAILURE_END", "start": "2025-07-09T08:00:00+02:00",
         "end": "2025-07-12T23:30:00+02:00"},
    ]})
    assert outages_from_latarnia(status, D(2025, 7, 20)) == [Outage("FAILURE", D(2025, 7, 9), D(2025, 7, 12), "latarnia")]
