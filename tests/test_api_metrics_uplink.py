"""The fleet engineer scrapes one /metrics per till: everything the daemon knows (its own state, the
uplink, the printer, the backups) under one prefix `ksef_edge_`, in base units, linted clean by
`promtool check metrics`; GET /v1/status carries the uplink's status (queue, deadlines, last success/error, rate).

Real `ksef-edge run` subprocess with the uplink on, against the real KSeF simulator on 127.0.0.1, a file
printer whose directory is missing at first (the printer is "off"), a backup directory, and real promtool.
"""
from __future__ import annotations

import json
import re
import time
import urllib.request
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from daemon_fixtures import VALID_BODY, daemon_process
from promtool_fixtures import check_metrics
from sim_fixtures import SIM_TOKEN
from test_monitoring_rules import monitoring_metric_names

# Prometheus naming: base units only (seconds, bytes); any of these in a name means a scaled unit.
NON_BASE_UNITS = re.compile(r"_(days|hours|minutes|milliseconds|ms|microseconds|kilobytes|megabytes|kb|mb|percent)(_|$)")


def call(url: str, token: str, body: dict | None = None, key: str | None = None) -> tuple[int, bytes]:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    if key:
        headers["Idempotency-Key"] = key
    req = urllib.request.Request(url, method="POST" if body else "GET", headers=headers,
                                 data=json.dumps(body).encode() if body else None)
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.status, r.read()


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a Prometheus text exposition (parsed by prometheus_client's own parser)."""
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for fam in text_string_to_metric_families(text) for s in fam.samples}


def wait_for(scrape, ok, timeout_s: float = 30.0) -> dict:
    end = time.monotonic() + timeout_s
    while True:
        m = samples(scrape())
        if ok(m) or time.monotonic() > end:
            return m
        time.sleep(0.3)


def test_metrics_serve_the_uplink_and_status_has_its_snapshot(tmp_path: Path, ksef_sim) -> None:
    ksef = f'environment = "simulator"\napi_base_url = "{ksef_sim.api_url}"\nuplink_idle_s = 0.5'
    paper = tmp_path / "paper"  # missing: the printer is "off" until the directory appears
    extra = (f'[printer]\nconnection = "file"\nfile_path = "{paper / "receipts.bin"}"\npaper = "80mm"\n\n'
             f'[backup]\ndir = "{tmp_path / "usb"}"\ninterval_s = 3600\nkeep = 3\n')
    (tmp_path / "usb").mkdir()
    with daemon_process(tmp_path / "dev", ksef_toml=ksef, uplink="auto", ksef_token=SIM_TOKEN, extra_toml=extra) as d:
        def scrape() -> str:
            return call(d.base_url + "/metrics", d.token)[1].decode()

        ids = [json.loads(call(d.base_url + "/v1/invoices", d.token, VALID_BODY, key=f"m{i}")[1])["id"] for i in range(2)]
        # the printer is off: the fleet sees the fault and the refused sends
        m = wait_for(scrape, lambda m: m.get(("ksef_edge_printer_up", ())) == 0
                     and m.get(("ksef_edge_printer_failed_attempts_total", ()), 0) >= 1)
        assert m[("ksef_edge_printer_up", ())] == 0, scrape()
        assert m[("ksef_edge_printer_failed_attempts_total", ())] >= 1
        assert m[("ksef_edge_receipts_waiting", ())] == 2
        assert m[("ksef_edge_receipts_printed_total", ())] == 0
        lint = check_metrics(scrape())  # a live scrape with a printer fault, mid-upload
        assert (lint.returncode, lint.stdout + lint.stderr) == (0, "")

        paper.mkdir()  # the printer is back: the queued receipts print on the next retry
        end = time.monotonic() + 60
        while time.monotonic() < end:
            states = [json.loads(call(d.base_url + f"/v1/invoices/{i}", d.token)[1])["state"] for i in ids]
            if all(s == "confirmed" for s in states):
                break
            time.sleep(0.3)
        assert states == ["confirmed", "confirmed"], d.log_path.read_text()[-3000:]
        m = wait_for(scrape, lambda m: m.get(("ksef_edge_invoices", (("state", "confirmed"),))) == 2
                     and m.get(("ksef_edge_receipts_printed_total", ())) == 2)
        text = scrape()
        # one scrape: the daemon's own metrics, the uplink's, the printer's and the backups'
        assert m[("ksef_edge_invoices", (("state", "confirmed"),))] == 2
        assert m[("ksef_edge_uplink_accepted_invoices_total", ())] == 2
        assert sum(v for (name, _), v in m.items() if name == "ksef_edge_uplink_sent_invoices_total") == 2
        assert m[("ksef_edge_uplink_last_success_timestamp_seconds", ())] > time.time() - 120
        assert m[("ksef_edge_uplink_deadline_alarms", (("level", "overdue"),))] == 0
        assert m[("ksef_edge_nearest_deadline_timestamp_seconds", ())] == 0  # nothing left to upload
        assert m[("ksef_edge_printer_up", ())] == 1 and m[("ksef_edge_receipts_printed_total", ())] == 2
        assert m[("ksef_edge_receipts_failed_total", ())] == 0 and m[("ksef_edge_receipts_waiting", ())] == 0
        assert (paper / "receipts.bin").stat().st_size > 0
        assert ("ksef_edge_backup_age_seconds", ()) in m

        lint = check_metrics(text)
        assert (lint.returncode, lint.stdout + lint.stderr) == (0, "")
        families = [f.name for f in text_string_to_metric_families(text)]
        assert [n for n in families if not n.startswith("ksef_edge_")] == []
        assert [n for n in families if NON_BASE_UNITS.search(n)] == []
        assert len(families) == len(set(families))
        served = {n for f in text_string_to_metric_families(text)  # a labelled counter with no child yet has no sample
                  for n in (f.name, f.name + "_total" if f.type == "counter" else f.name, *(s.name for s in f.samples))}
        assert monitoring_metric_names() - served == set()  # the alert rules and dashboard query real series
        assert not [n for n in families if n.startswith("ksef_edge_uplink_invoices") or "oldest_deadline" in n]

        end = time.monotonic() + 15  # the uplink's snapshot is refreshed at most every few seconds
        while True:
            up = json.loads(call(d.base_url + "/v1/status", d.token)[1])["ksef"]["uplink"]
            if up["queue"]["confirmed"] == 2 or time.monotonic() > end:
                break
            time.sleep(0.5)
        assert up["running"] is True and up["queue"]["confirmed"] == 2 and up["queue"]["issued"] == 0
        assert up["oldest_deadline"] is None  # nothing left to upload
        assert up["last_success"] is not None and up["last_error"] is None and up["alarms"] == []
        assert up["sends_per_s"] > 0  # two invoices within the last minute
