"""Under systemd the daemon logs to journald with fields a fleet filters on (INVOICE_ID,
INVOICE_NUMBER, KSEF_NUMBER, STATE, TILL, ERROR_CODE); on a terminal the same fields follow the message
as key=value pairs.

The journald test is real: systemd-journald and `ksef-edge run` (with the uplink confirming the invoice
against the KSeF simulator) in a private mount namespace (tests/journal_probe.py); it needs root and
`unshare`, as on the CI machine, and is skipped with the reason otherwise.
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ksef_edge.logfields import TillFilter, invoice_fields
from ksef_edge.service import _LogfmtFormatter
from sim_fixtures import SIM_TOKEN, _shared_ksef_sim, ksef_sim  # noqa: F401 - fixtures

PROBE = Path(__file__).resolve().parent / "journal_probe.py"


def journald_available() -> str | None:
    """Why journald cannot run here, or None."""
    if os.geteuid() != 0:
        return "needs root (mounts in a private namespace)"
    if not (shutil.which("unshare") and shutil.which("journalctl") and Path("/lib/systemd/systemd-journald").exists()):
        return "needs unshare, journalctl and /lib/systemd/systemd-journald (Debian: systemd)"
    try:
        import systemd.journal  # noqa: F401
    except ImportError:
        return "systemd-python is not installed"
    return None


def test_journald_record_of_an_issued_invoice_carries_its_fields(tmp_path: Path, ksef_sim) -> None:  # noqa: F811
    why = journald_available()
    if why:
        pytest.skip(why)
    run = subprocess.run(["unshare", "--mount", "--propagation", "private", sys.executable, str(PROBE),
                          str(tmp_path), ksef_sim.api_url, SIM_TOKEN], capture_output=True, text=True, timeout=240,
                         check=False, env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    result = json.loads((tmp_path / "journal.json").read_text())
    journal = result["journal"]
    assert journal, result["journalctl_stderr"]
    assert result["daemon_stderr"].strip() == "", "under systemd the daemon logs to journald, not stderr"
    inv = result["issued"]

    def one(state: str) -> dict:
        found = [e for e in journal if e.get("STATE") == state and e.get("INVOICE_ID") == str(inv["id"])]
        assert len(found) == 1, (state, [e.get("MESSAGE") for e in journal])
        return found[0]

    issued = one("issued")
    assert issued["INVOICE_NUMBER"] == inv["number"] and issued["TILL"] == "KASA1"
    assert issued["DOCUMENT_KIND"] == "VAT" and issued["PRIORITY"] == "6" and "KSEF_NUMBER" not in issued
    accepted, confirmed = one("accepted"), one("confirmed")
    assert accepted["INVOICE_NUMBER"] == confirmed["INVOICE_NUMBER"] == inv["number"]
    assert accepted["KSEF_NUMBER"] == confirmed["KSEF_NUMBER"] and accepted["KSEF_NUMBER"].startswith("5265877635-")
    # a refused request: its error code as a field, the same code the POS got
    code, body = result["refused"]
    refusals = [e for e in journal if e.get("ERROR_CODE") == body["error"]["code"]]
    assert code == 422 and len(refusals) == 1 and refusals[0]["TILL"] == "KASA1"
    # every record of this daemon is tagged with its till; no secret in any field
    assert all(e.get("TILL") == "KASA1" for e in journal if e.get("LOGGER", "").startswith("ksef_edge"))
    assert not [e for e in journal if SIM_TOKEN.split("|")[-1] in json.dumps(e)]


def test_terminal_line_has_the_same_fields_as_key_value_pairs() -> None:
    class Rec:
        id, number, ksef_number = 7, 'FV/KASA1/2026/12/000007', None

    record = logging.LogRecord("ksef_edge.api", logging.INFO, __file__, 1, "issued invoice %s", (Rec.number,), None)
    for k, v in invoice_fields(Rec(), "issued", kind="VAT").items():
        setattr(record, k, v)
    TillFilter("KASA1").filter(record)
    line = _LogfmtFormatter().format(record)
    assert line.endswith(' msg="issued invoice FV/KASA1/2026/12/000007" till=KASA1 invoice_id=7 '
                         'invoice_number=FV/KASA1/2026/12/000007 document_kind=VAT state=issued')
