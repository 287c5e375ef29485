"""promtool (from Debian's `prometheus` package; scripts/setup-env unpacks it into .venv/bin)."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest


def promtool() -> str:
    """The promtool binary: next to the test interpreter (.venv/bin) or on PATH; the suite needs it."""
    here = Path(sys.executable).parent / "promtool"
    found = str(here) if here.exists() else shutil.which("promtool")
    if found is None:
        pytest.fail("promtool not found: run scripts/setup-env (it unpacks promtool from Debian's prometheus package)")
    return found


def check_metrics(text: str) -> subprocess.CompletedProcess[str]:
    """`promtool check metrics` over one scrape (lint: naming, units, counters, help)."""
    return subprocess.run([promtool(), "check", "metrics"], input=text, capture_output=True, text=True, timeout=60)
