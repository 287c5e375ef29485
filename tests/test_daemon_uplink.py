"""The running daemon uploads what it issued to a local KSeF (ksef-sim): the uplink seam works end to end."""
from __future__ import annotations

import json
import time
import urllib.request

from daemon_fixtures import VALID_BODY, daemon_process
from sim_fixtures import SIM_TOKEN


def call(method, url, token, body=None, key=None):
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    if key:
        headers["Idempotency-Key"] = key
    req = urllib.request.Request(url, method=method, headers=headers, data=json.dumps(body).encode() if body else None)
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.status, json.loads(r.read())


def test_issued_invoices_reach_ksef_and_get_ksef_numbers(tmp_path, ksef_sim):
    ksef = f'environment = "simulator"\napi_base_url = "{ksef_sim.api_url}"\nuplink_idle_s = 0.5'
    with daemon_process(tmp_path, ksef_toml=ksef, uplink="auto", ksef_token=SIM_TOKEN) as d:
        ids = [call("POST", d.base_url + "/v1/invoices", d.token, VALID_BODY, key=f"u{i}")[1]["id"] for i in range(3)]
        deadline = time.monotonic() + 60
        states = {}
        while time.monotonic() < deadline:
            states = {i: call("GET", d.base_url + f"/v1/invoices/{i}", d.token)[1] for i in ids}
            if all(s["state"] == "confirmed" for s in states.values()):
                break
            time.sleep(0.3)
        assert all(s["state"] == "confirmed" for s in states.values()), (states, d.log_path.read_text()[-3000:])
        assert all(s["ksef_number"] and s["ksef_number"].startswith("5265877635-") for s in states.values())
        assert all(s["upo_available"] for s in states.values())
        deadline = time.monotonic() + 15  # the uplink's status snapshot is refreshed every few seconds
        while True:
            _, status = call("GET", d.base_url + "/v1/status", d.token)
            if status["ksef"]["reachability"] == "reachable" or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert status["ksef"]["reachability"] == "reachable"
        assert status["queue"]["confirmed"] == 3 and status["ksef"]["uplink"]["running"]
