"""The fleet engineer scrapes one /metrics per till: the uplink's `ksef_uplink_*` metrics are there next to
`ksef_edge_*`, and GET /v1/status carries the uplink's status (queue, deadlines, last success/error, rate).

Real `ksef-edge run` subprocess with the uplink on, against the real KSeF simulator on 127.0.0.1.
"""
from __future__ import annotations

import json
import time
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from daemon_fixtures import VALID_BODY, daemon_process
from sim_fixtures import SIM_TOKEN


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


def test_metrics_serve_the_uplink_and_status_has_its_snapshot(tmp_path, ksef_sim):
    ksef = f'environment = "simulator"\napi_base_url = "{ksef_sim.api_url}"\nuplink_idle_s = 0.5'
    with daemon_process(tmp_path, ksef_toml=ksef, uplink="auto", ksef_token=SIM_TOKEN) as d:
        ids = [json.loads(call(d.base_url + "/v1/invoices", d.token, VALID_BODY, key=f"m{i}")[1])["id"] for i in range(2)]
        end = time.monotonic() + 60
        while time.monotonic() < end:
            states = [json.loads(call(d.base_url + f"/v1/invoices/{i}", d.token)[1])["state"] for i in ids]
            if all(s == "confirmed" for s in states):
                break
            time.sleep(0.3)
        assert states == ["confirmed", "confirmed"], d.log_path.read_text()[-3000:]

        end = time.monotonic() + 15  # the uplink's snapshot is refreshed at most every few seconds
        while True:
            m = samples(call(d.base_url + "/metrics", d.token)[1].decode())
            if m.get(("ksef_uplink_invoices", (("state", "confirmed"),))) == 2 or time.monotonic() > end:
                break
            time.sleep(0.5)
        # one scrape: the daemon's own metrics and the uplink's
        assert m[("ksef_edge_invoices", (("state", "confirmed"),))] == 2
        assert m[("ksef_uplink_invoices", (("state", "confirmed"),))] == 2
        assert m[("ksef_uplink_accepted_invoices_total", ())] == 2
        assert sum(v for (name, _), v in m.items() if name == "ksef_uplink_sent_invoices_total") == 2
        assert m[("ksef_uplink_last_success_timestamp_seconds", ())] > time.time() - 120
        assert m[("ksef_uplink_deadline_alarms", (("level", "overdue"),))] == 0

        up = json.loads(call(d.base_url + "/v1/status", d.token)[1])["ksef"]["uplink"]
        assert up["running"] is True and up["queue"]["confirmed"] == 2 and up["queue"]["issued"] == 0
        assert up["oldest_deadline"] is None  # nothing left to upload
        assert up["last_success"] is not None and up["last_error"] is None and up["alarms"] == []
        assert up["sends_per_s"] > 0  # two invoices within the last minute
