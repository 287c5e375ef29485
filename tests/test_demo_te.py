"""The whole demo with the simulator playing KSeF TE (issue 17): TE receiver suffix and XAdES-signed
UPOs, as real TE sends them. Every invoice must still end `confirmed` with its UPO — the product's UPO
acceptance has to take what KSeF really issues, not our old unsigned PRD-shaped UPO."""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.timeout(400)
def test_demo_in_te_mode_confirms_every_invoice(tmp_path: Path) -> None:
    out = tmp_path / "demo-out"
    env = {k: v for k, v in os.environ.items()
           if k not in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "KSEF_SIM_ENVIRONMENT")}
    proc = subprocess.run([str(REPO / "scripts" / "demo"), "--ksef-environment", "test", "--out", str(out)],
                          capture_output=True, text=True, timeout=360, cwd=REPO, env=env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "environment test;" in (out / "logs" / "ksef-sim.log").read_text(encoding="utf-8")
    rows = json.loads((out / "summary.json").read_text(encoding="utf-8"))["invoices"]
    assert len(rows) >= 4 and rows[-1]["kind"] == "KOR"      # the return's correction is confirmed too
    assert [(r["number"], r["state"], r["upo_available"]) for r in rows] == \
        [(r["number"], "confirmed", True) for r in rows]


def test_demo_refuses_an_unknown_ksef_environment() -> None:
    proc = subprocess.run([str(REPO / "scripts" / "demo"), "--ksef-environment", "staging"],
                          capture_output=True, text=True, timeout=30, cwd=REPO)
    assert proc.returncode == 2 and "--ksef-environment must be sim, test, demo or prod" in proc.stderr
