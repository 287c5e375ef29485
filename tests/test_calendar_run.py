"""CI's share of the calendar run: `scripts/test-calendar --quick` (3 fixed instants: the year turn at
23:59:59 Warsaw, the spring DST jump, the 9th of a month) must report PASS for each. The full list of instants
runs in scripts/test-long."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))
from calendar_run import QUICK, libfaketime  # noqa: E402 - scripts/ is put on sys.path just above

pytestmark = [
    pytest.mark.skipif(libfaketime() is None, reason="needs Debian faketime (scripts/setup-env installs it as root)"),
    pytest.mark.skipif(bool(os.environ.get("KSEF_CALENDAR_RUN")), reason="already inside a calendar run"),
]


@pytest.mark.timeout(600)
def test_the_quick_calendar_run_passes_on_each_of_its_instants() -> None:
    proc = subprocess.run([sys.executable, str(REPO / "scripts" / "calendar_run.py"), "--quick"], check=False, cwd=REPO,
                          capture_output=True, text=True, timeout=590)
    report = proc.stdout + proc.stderr
    assert proc.returncode == 0, report
    for name in QUICK:
        assert any(line.startswith("PASS") and name in line for line in report.splitlines()), (name, report)
