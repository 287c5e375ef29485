"""Where the product meets the calendar: deadlines, P_1, numbering and the clock floor, checked against an
independent oracle (tests/calendar_oracle.py: PyPI `holidays` + the official offline rules), never against the
product's own holidays/deadlines functions.

Two clocks: an injected one (the daemon's `now`), which walks exactly across each tricky instant; and the real
process clock, which `scripts/test-calendar` sets to each instant with libfaketime (KSEF_CALENDAR_INSTANT tells
the test which instant the run is about, so it issues invoices right across it).
"""
from __future__ import annotations

import datetime as dt
import json
import os
import re
import time
import urllib.request
from collections import defaultdict
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

import calendar_oracle as oracle
from daemon_fixtures import VALID_BODY, api_call, daemon_process, in_process_daemon

W = oracle.WARSAW
FA = "{http://crd.gov.pl/wzor/2025/06/25/13775/}"
UTC = dt.UTC


def warsaw(text: str, fold: int = 0) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=W, fold=fold)


# The tricky instants (Warsaw wall time; fold=1: the second 02:xx of the autumn change). Each is walked across
# second by second by the injected clock; scripts/test-calendar sets the real clock to the same list.
WALKS: list[tuple[str, list[dt.datetime]]] = [
    ("9th of a month, Friday", [warsaw("2026-01-09T09:00:00")]),
    ("DST spring 01:59 -> 03:00", [warsaw("2026-03-29T01:59:59"), warsaw("2026-03-29T03:00:00"),
                                   warsaw("2026-03-29T03:01:00")]),
    ("Easter Saturday", [warsaw("2026-04-04T12:00:00")]),
    ("Easter Monday", [warsaw("2026-04-06T12:00:00")]),
    ("month end, midnight Warsaw (22:00 UTC)", [warsaw("2026-06-30T23:59:59"), warsaw("2026-07-01T00:00:00"),
                                                dt.datetime(2026, 6, 30, 23, 59, 59, tzinfo=UTC)]),
    ("DST autumn 02:59 CEST -> 02:00 CET", [warsaw("2026-10-25T01:59:59"), warsaw("2026-10-25T02:59:59"),
                                             warsaw("2026-10-25T02:00:00", fold=1), warsaw("2026-10-25T03:01:00")]),
    ("1st of a month, midnight UTC", [dt.datetime(2026, 11, 30, 22, 59, 59, tzinfo=UTC),
                                      dt.datetime(2026, 11, 30, 23, 0, 0, tzinfo=UTC),
                                      dt.datetime(2026, 12, 1, 0, 0, 0, tzinfo=UTC)]),
    ("23 December", [warsaw("2026-12-23T15:00:00")]),
    ("24 December", [warsaw("2026-12-24T10:00:00")]),
    ("31 December 23:59:59 -> 1 January", [warsaw("2026-12-31T23:59:59"), warsaw("2026-12-31T23:59:59.999000"),
                                           warsaw("2027-01-01T00:00:00"), warsaw("2027-01-01T00:00:01")]),
    ("Friday before a long weekend", [warsaw("2027-04-30T16:00:00")]),  # Sat 1 May, Mon 3 May
]

# Deadlines the oracle must give for the named days (read off a printed calendar, so a broken oracle shows).
KNOWN = {
    dt.date(2026, 1, 9): dt.date(2026, 1, 12),
    dt.date(2026, 4, 4): dt.date(2026, 4, 7),
    dt.date(2026, 4, 6): dt.date(2026, 4, 7),
    dt.date(2026, 12, 23): dt.date(2026, 12, 28),
    dt.date(2026, 12, 24): dt.date(2026, 12, 28),
    dt.date(2026, 12, 31): dt.date(2027, 1, 4),
    dt.date(2027, 1, 1): dt.date(2027, 1, 4),
    dt.date(2027, 4, 30): dt.date(2027, 5, 4),
    dt.date(2024, 12, 23): dt.date(2024, 12, 24),  # before the amendment 24 XII was a working day
}


def _p1(xml: bytes) -> dt.date:
    return dt.date.fromisoformat(etree.fromstring(xml).findtext(f"{FA}Fa/{FA}P_1"))


def _check(inv: dict[str, Any], xml: bytes, instant: dt.datetime) -> None:
    """One issued invoice against the calendar: P_1 = the Warsaw date, number, KOD I date, deadline (oracle)."""
    day = oracle.warsaw_date(instant)
    assert inv["issue_date"] == day.isoformat() and _p1(xml) == day, (instant, inv["issue_date"])
    assert dt.datetime.fromisoformat(inv["created_at"]) >= instant.astimezone(UTC) - dt.timedelta(seconds=1)
    assert re.fullmatch(rf"FV/KASA1/{day:%Y}/{day:%m}/\d{{6}}", inv["number"]), inv["number"]
    assert f"/{day:%d-%m-%Y}/" in inv["kod1_url"], inv["kod1_url"]  # KOD I carries P_1 as DD-MM-YYYY
    assert inv["deadline"] == oracle.offline24(day).isoformat(), (instant, inv["deadline"])


def _gapless(numbers: list[str]) -> None:
    """Within each series (FV/KASA1/yyyy/mm/) the numbers run 1, 2, 3... in issue order."""
    by_series: dict[str, list[int]] = defaultdict(list)
    for n in numbers:
        series, seq = n.rsplit("/", 1)
        by_series[series].append(int(seq))
    for series, seqs in by_series.items():
        assert seqs == list(range(1, len(seqs) + 1)), (series, seqs)


@pytest.mark.timeout(120)
def test_invoices_issued_on_the_real_clock_carry_the_warsaw_date_and_the_official_deadline(tmp_path: Path) -> None:
    """The real process clock (set by libfaketime in scripts/test-calendar): a `ksef-edge run` subprocess issues
    invoices back to back across KSEF_CALENDAR_INSTANT (or now, without it); each one's stored P_1, number and
    deadline are checked as above, and the numbering is gapless across the boundary the instant may cross."""
    target = os.environ.get("KSEF_CALENDAR_INSTANT")
    with daemon_process(tmp_path / "device") as dp:
        numbers: list[str] = []
        created_times: list[dt.datetime] = []
        start = dt.datetime.now(UTC)
        stop = start + dt.timedelta(seconds=1)
        if target:
            instant = dt.datetime.fromisoformat(target)
            assert start < instant - dt.timedelta(seconds=1), f"the run reached this test after {target}: raise the lead"
            while dt.datetime.now(UTC) < instant - dt.timedelta(seconds=1.5):
                time.sleep(0.05)
            stop = instant + dt.timedelta(seconds=1.5)
        i = 0
        while dt.datetime.now(UTC) < stop or i < 3:
            before = dt.datetime.now(UTC)
            req = urllib.request.Request(dp.base_url + "/v1/invoices", data=json.dumps(VALID_BODY).encode(), method="POST",
                                         headers={**dp.auth, "Content-Type": "application/json", "Idempotency-Key": f"rc-{i}"})
            with urllib.request.urlopen(req, timeout=10) as resp:
                inv = json.loads(resp.read())
            after = dt.datetime.now(UTC)
            created = dt.datetime.fromisoformat(inv["created_at"])
            assert before - dt.timedelta(seconds=1) <= created <= after + dt.timedelta(seconds=1), (before, created, after)
            with urllib.request.urlopen(urllib.request.Request(f"{dp.base_url}/v1/invoices/{inv['id']}/xml",
                                                               headers=dp.auth), timeout=10) as resp:
                xml = resp.read()
            _check(inv, xml, created)
            numbers.append(inv["number"])
            created_times.append(created)
            i += 1
            time.sleep(0.1)
        _gapless(numbers)
        if target:  # the run went across the instant: invoices on both sides of it
            instant = dt.datetime.fromisoformat(target)
            assert min(created_times) < instant <= max(created_times), (target, created_times)


async def test_numbering_p1_and_deadlines_walk_across_every_tricky_instant(tmp_path: Path) -> None:
    """An injected clock walks across each instant (month and year ends, DST both ways, midnight UTC vs Warsaw,
    Easter, Christmas): every invoice's stored P_1 is its Warsaw date, its deadline the official one, and the
    monthly series restart at 000001 and stay gapless; the autumn hour that repeats is not a clock going back."""
    current = [WALKS[0][1][0]]
    async with in_process_daemon(tmp_path, now=lambda: current[0].astimezone(UTC)) as d:
        numbers: list[str] = []
        for name, instants in WALKS:
            for i, instant in enumerate(instants):
                current[0] = instant
                status, inv = await api_call(d, "POST", "/v1/invoices", VALID_BODY, key=f"walk-{len(numbers)}-{i}")
                assert status == 201, (name, instant, inv)
                _check(inv, await _xml(d, inv["id"]), instant)
                numbers.append(inv["number"])
        _gapless(numbers)
        assert "FV/KASA1/2026/12/000001" in numbers and "FV/KASA1/2027/01/000001" in numbers
        assert "FV/KASA1/2026/07/000001" in numbers  # midnight Warsaw started July while UTC was still June


async def _xml(d: Any, invoice_id: int) -> bytes:
    import aiohttp

    url = f"{d.base_url}/v1/invoices/{invoice_id}/xml"
    async with aiohttp.ClientSession() as s, s.get(url, headers=d.auth) as r:
        assert r.status == 200
        return await r.read()


@pytest.fixture
async def device(tmp_path: Path) -> AsyncIterator[Any]:
    from ksef_edge.store import OutboxStore

    store = await OutboxStore.open(tmp_path / "dev" / "outbox.sqlite3")
    yield store
    await store.close()


async def test_retention_counts_days_from_the_warsaw_date_not_the_utc_one(tmp_path: Path, device, ec_signer) -> None:
    """At 00:30 Warsaw on 1 January 2027 (still 31 December in UTC) an invoice of 31 December 2025 is more than
    365 days old in Polish dates (cutoff 2026-01-01), so a 365-day retention prunes it; counting from the UTC
    date (cutoff 2025-12-31) kept it a day too long."""
    from archive_helpers import confirm, issue
    from ksef_edge.archive import export_archive, prune_archived

    old = await issue(device, ec_signer, issue_date=dt.date(2025, 12, 31))
    newest = await issue(device, ec_signer, issue_date=dt.date(2026, 1, 1))  # holds the numbering position
    for invoice_id in (old, newest):
        await confirm(device, invoice_id)
    export_archive(device.path, tmp_path / "archive", date_from=dt.date(2025, 12, 1), date_to=dt.date(2026, 1, 31))
    now = dt.datetime(2026, 12, 31, 23, 30, tzinfo=UTC)
    result = prune_archived(device.path, older_than_days=365, now=now, dry_run=True)
    assert result.cutoff == dt.date(2026, 1, 1)
    assert result.pruned == [(await device.get(old)).number]


def test_the_oracle_matches_a_printed_calendar() -> None:
    for year, off in oracle.WIGILIA.items():
        assert (not oracle.is_working_day(dt.date(year, 12, 24))) is (off or dt.date(year, 12, 24).weekday() >= 5)
    for issued, deadline in KNOWN.items():
        assert oracle.offline24(issued) == deadline, issued
    # the ksef-docs worked example: issued Wed 2025-07-08, failure ending Sat 07-12 -> Tue 2025-07-22
    assert oracle.offline24(dt.date(2025, 7, 8), failure_end=dt.date(2025, 7, 12)) == dt.date(2025, 7, 22)


def test_every_deadline_from_2025_to_2028_matches_the_official_rules() -> None:
    from ksef_edge.domain.deadlines import OfflineMode, upload_deadline

    day = dt.date(2025, 1, 1)
    while day <= dt.date(2028, 12, 31):
        assert upload_deadline(OfflineMode.OFFLINE24, day) == oracle.offline24(day), day
        for after in (0, 1, 3):
            end = day + dt.timedelta(days=after)
            assert upload_deadline(OfflineMode.OFFLINE, day, unavailability_end=end) == oracle.offline(day, end), day
            assert upload_deadline(OfflineMode.FAILURE, day, failure_ends=[end]) == oracle.failure(day, end), day
            assert upload_deadline(OfflineMode.OFFLINE24, day, failure_ends=[end]) == oracle.offline24(day, end), day
        assert upload_deadline(OfflineMode.TOTAL_FAILURE, day) is None
        day += dt.timedelta(days=1)
