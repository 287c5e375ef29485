"""The calendar run (scripts/test-calendar): the date-touching tests with the process clock set to each tricky
instant by libfaketime, one pytest run per instant, reporting each instant with PASS/FAIL.

How the clock is set, and why: FAKETIME="+<seconds>s", a fixed offset from the real clock computed at launch so
that the clock reads `instant - lead` when pytest starts. An offset (not FAKETIME="@<date>", "start at") because
"start at" restarts the clock in every process: the daemon, ksef-sim and Chromium subprocesses would each begin
at the instant when they start, seconds apart from the test; an offset gives every process one clock. The
monotonic clock is shifted by the same offset (harmless: only differences matter) because libfaketime 0.9.10's
FAKETIME_DONT_FAKE_MONOTONIC=1 makes Python's time.sleep() fail with EINVAL (clock_nanosleep). The real-clock
test in tests/test_calendar_dates.py runs first and issues invoices from 1.5 s before to 1.5 s after the
instant (KSEF_CALENDAR_INSTANT), so every boundary is crossed by real issuance; the other tests then run in the
seconds after it. The process zone is TZ=UTC (as on CI) unless --tz says otherwise: the product must not depend
on it.
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import glob
import os
import subprocess
import sys
import time
from pathlib import Path
from zoneinfo import ZoneInfo

REPO = Path(__file__).resolve().parents[1]
WARSAW = ZoneInfo("Europe/Warsaw")


@dataclasses.dataclass(frozen=True)
class Instant:
    name: str
    at: dt.datetime  # aware

    def label(self) -> str:
        w, u = self.at.astimezone(WARSAW), self.at.astimezone(dt.UTC)
        return f"{w:%Y-%m-%d %H:%M:%S} Warsaw ({w:%Z}) = {u:%Y-%m-%d %H:%M:%S} UTC  {self.name}"


def _w(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


INSTANTS = [
    Instant("1st of a month", _w("2026-12-01T09:00:00+01:00")),
    Instant("9th of a month (Friday; deadline 12.01)", _w("2026-01-09T09:00:00+01:00")),
    Instant("31 December 23:59:59 -> 1 January", _w("2026-12-31T23:59:59+01:00")),
    Instant("23 December (deadline after Christmas)", _w("2026-12-23T15:00:00+01:00")),
    Instant("24 December (a holiday from 2025)", _w("2026-12-24T10:00:00+01:00")),
    Instant("Easter Saturday", _w("2026-04-04T12:00:00+02:00")),
    Instant("Easter Monday", _w("2026-04-06T12:00:00+02:00")),
    Instant("Friday before a long weekend (1-3 May)", _w("2027-04-30T16:00:00+02:00")),
    Instant("DST spring: 01:59:59 CET -> 03:00 CEST", _w("2026-03-29T01:59:59+01:00")),
    Instant("DST spring: 03:01 CEST", _w("2026-03-29T03:01:00+02:00")),
    Instant("DST autumn: 01:59 CEST", _w("2026-10-25T01:59:00+02:00")),
    Instant("DST autumn: 02:59:59 CEST -> 02:00 CET", _w("2026-10-25T02:59:59+02:00")),
    Instant("DST autumn: 03:01 CET", _w("2026-10-25T03:01:00+01:00")),
    Instant("midnight Warsaw, month end (UTC still 30 June)", _w("2026-07-01T00:00:00+02:00")),
    Instant("midnight UTC (Warsaw already 1 December, 01:00)", _w("2026-12-01T00:00:00+00:00")),
    Instant("month end February -> March", _w("2027-02-28T23:59:59+01:00")),
]
QUICK = ["31 December 23:59:59 -> 1 January", "DST spring: 01:59:59 CET -> 03:00 CEST",
         "9th of a month (Friday; deadline 12.01)"]

# the date-touching tests; the real-clock issuance test first (it waits for the instant)
FIRST = ["tests/test_calendar_dates.py"]
FULL_TESTS = FIRST + [
    "tests/test_domain_deadlines.py", "tests/test_store_outbox.py", "tests/test_uplink_availability.py",
    "tests/test_correction_ordering.py", "tests/test_api_invoices.py", "tests/test_api_list_order.py",
    "tests/test_uplink_drain.py::test_trickle_sends_few_invoices_in_an_online_session_with_upos",
    "tests/test_web_browser.py::test_status_warns_about_a_near_deadline_when_nothing_is_uploaded",
    "tests/test_web_browser.py::test_page_writes_every_date_as_dd_mm_yyyy_in_warsaw_time",
]
QUICK_TESTS = FIRST + [
    "tests/test_domain_deadlines.py", "tests/test_store_outbox.py",
    "tests/test_web_browser.py::test_status_warns_about_a_near_deadline_when_nothing_is_uploaded",
]


# what tests/test_calendar_dates.py says when pytest reached the instant before the real-clock test could start
TOO_LATE = "raise the lead"


def libfaketime() -> str | None:
    """The Debian `faketime` package's multithreaded preload library (the daemon and Chromium use threads)."""
    found = sorted(glob.glob("/usr/lib/*/faketime/libfaketimeMT.so.1") + glob.glob("/usr/lib/faketime/libfaketimeMT.so.1"))
    return found[0] if found else None


def run_one(inst: Instant, groups: list[list[str]], *, lib: str, lead_s: float, tz: str, extra: list[str],
            log_dir: Path, mode: str) -> tuple[bool, float, Path]:
    """One instant: each group of tests is one pytest run, in order, all on the same shifted clock."""
    offset = (inst.at - dt.timedelta(seconds=lead_s)).timestamp() - time.time()
    env = {k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET", "WATCHDOG_USEC")}
    env.update({
        "LD_PRELOAD": ":".join(p for p in (lib, os.environ.get("LD_PRELOAD", "")) if p),
        "FAKETIME": f"{offset:+.3f}s",
        "TZ": tz,
        "KSEF_CALENDAR_INSTANT": inst.at.astimezone(dt.UTC).isoformat(),
        "KSEF_CALENDAR_RUN": "1",
    })
    log = log_dir / f"{mode}-{inst.at.astimezone(dt.UTC):%Y%m%dT%H%M%SZ}.log"
    started = time.monotonic()
    ok = True
    with log.open("wb") as out:
        for tests in groups:
            rc = subprocess.call([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *tests, *extra],
                                 cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
            ok = ok and rc == 0
    return ok, time.monotonic() - started, log


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="scripts/test-calendar", description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="the short fixed subset CI runs (3 instants, fewer tests)")
    ap.add_argument("--suite", action="store_true",
                    help="the whole suite (what scripts/test runs) at each instant, not only the date-touching tests")
    ap.add_argument("--only", default="", help="only the instants whose name contains this text")
    ap.add_argument("--lead", type=float, default=None,
                    help="seconds before the instant the run starts (default 15 quick, 40 full)")
    ap.add_argument("--tz", default="UTC", help="the process time zone (TZ) of the run, default UTC")
    ap.add_argument("--list", action="store_true", help="print the instants and exit")
    ap.add_argument("pytest_args", nargs="*", help="passed to pytest (after --)")
    args = ap.parse_args(argv)
    instants = [i for i in INSTANTS if (not args.quick or i.name in QUICK) and args.only in i.name]
    if args.list:
        for inst in instants:
            print(inst.label())
        return 0
    lib = libfaketime()
    if lib is None:
        print("test-calendar: libfaketime not found: install the Debian package `faketime` (scripts/setup-env does, as root)",
              file=sys.stderr)
        return 2
    # --suite: the real-clock test first (it waits for the instant), then everything else scripts/test runs
    groups = [FIRST, ["tests", "--ignore=tests/test_calendar_dates.py"]] if args.suite else \
        [QUICK_TESTS if args.quick else FULL_TESTS]
    lead = args.lead if args.lead is not None else (15.0 if args.quick else 40.0)
    mode = "suite" if args.suite else "quick" if args.quick else "full"
    log_dir = REPO / "tests" / "artifacts" / "calendar"
    log_dir.mkdir(parents=True, exist_ok=True)
    (log_dir.parent / ".gitignore").write_text("*\n")
    failed = 0
    for inst in instants:
        ok, took, log = run_one(inst, groups, lib=lib, lead_s=lead, tz=args.tz, extra=args.pytest_args,
                                log_dir=log_dir, mode=mode)
        if not ok and TOO_LATE in log.read_text(errors="replace"):  # a loaded machine: start further ahead, once
            print(f"      (started too close to {inst.at:%H:%M:%S}; again with a {2 * lead:.0f} s lead)", flush=True)
            ok, took, log = run_one(inst, groups, lib=lib, lead_s=2 * lead, tz=args.tz, extra=args.pytest_args,
                                    log_dir=log_dir, mode=mode)
        failed += not ok
        print(f"{'PASS' if ok else 'FAIL'}  {inst.label()}  ({took:.0f} s)", flush=True)
        if not ok:
            tail = log.read_text(errors="replace").splitlines()[-40:]
            print("\n".join("      " + line for line in tail) + f"\n      full log: {log}", flush=True)
    print(f"test-calendar: {len(instants) - failed} of {len(instants)} instants passed (TZ={args.tz})")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
