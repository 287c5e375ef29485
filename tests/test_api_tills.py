"""Named tills (issue 19, item 2) against a real `ksef-edge run`, managed with the real `ksef-edge till` CLI.

Two tills issue with their own tokens; revoking one stops it at the next request while the other keeps
issuing; invoices, /v1/status and /metrics name the till; the config's old single token lives on as
the till named by [device] pos_id; tokens are stored only hashed.
"""
from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from pathlib import Path

from daemon_fixtures import VALID_BODY, DaemonProcess, daemon_process


def till(d: DaemonProcess, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ksef_edge", "till", *args, "--config", str(d.files.config)],
                          capture_output=True, text=True, timeout=60, check=False)


def call(d: DaemonProcess, token: str, method: str, path: str, body: dict | None = None,
         key: str | None = None) -> tuple[int, dict | str]:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json",
               "Idempotency-Key": key or uuid.uuid4().hex}
    req = urllib.request.Request(d.base_url + path, method=method, headers=headers,
                                 data=json.dumps(body).encode() if body is not None else None)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            text = resp.read().decode()
            return resp.status, json.loads(text) if resp.headers.get_content_type() == "application/json" else text
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_two_tills_issue_revoking_one_stops_it_at_once(tmp_path: Path) -> None:
    with daemon_process(tmp_path) as d:
        added = {}
        for name in ("KASA2", "KASA3"):
            proc = till(d, "add", name)
            assert proc.returncode == 0, proc.stderr
            added[name] = proc.stdout.strip().splitlines()[-1]
        assert till(d, "add", "KASA2").returncode == 2  # a name is unique
        for name, token in added.items():
            status, invoice = call(d, token, "POST", "/v1/invoices", VALID_BODY)
            assert status == 201 and invoice["till"] == name, invoice
            assert call(d, token, "GET", f"/v1/invoices/{invoice['id']}")[1]["till"] == name
            assert call(d, token, "GET", "/v1/status")[1]["till"] == name
        status, old = call(d, d.token, "POST", "/v1/invoices", VALID_BODY)  # the config's token: till KASA1
        assert status == 201 and old["till"] == "KASA1"

        proc = till(d, "revoke", "KASA2")
        assert proc.returncode == 0, proc.stderr
        status, refused = call(d, added["KASA2"], "POST", "/v1/invoices", VALID_BODY)  # no restart in between
        assert status == 401 and refused["error"]["code"] == "unauthorized"
        status, invoice = call(d, added["KASA3"], "POST", "/v1/invoices", VALID_BODY)
        assert status == 201 and invoice["till"] == "KASA3"

        listing = till(d, "list").stdout
        assert "KASA1\tactive" in listing and "KASA2\trevoked" in listing and "KASA3\tactive" in listing
        status, metrics = call(d, d.token, "GET", "/metrics")
        assert 'ksef_edge_till_invoices_issued_total{till="KASA3"} 2.0' in metrics
        assert 'ksef_edge_till_invoices_issued_total{till="KASA2"} 1.0' in metrics

        con = sqlite3.connect(d.files.db)
        try:
            dump = "\n".join(con.iterdump())
            rows = dict(con.execute("SELECT invoice_id, till FROM invoice_tills").fetchall())
        finally:
            con.close()
        assert not any(token in dump for token in (*added.values(), d.token))  # only hashes are stored
        assert sorted(rows.values()) == ["KASA1", "KASA2", "KASA3", "KASA3"]

        import csv
        import datetime as dt

        from ksef_edge.archive import export_archive

        today = dt.date.today()
        export_archive(d.files.db, tmp_path / "export", date_from=today - dt.timedelta(days=2),
                       date_to=today + dt.timedelta(days=2))
        with open(tmp_path / "export" / "index.csv", newline="", encoding="utf-8") as f:
            exported = sorted(row["till"] for row in csv.DictReader(f))
        assert exported == ["KASA1", "KASA2", "KASA3", "KASA3"]  # the accountant's index names the till


def test_a_replay_keeps_the_issuing_till_and_a_correction_names_its_own(tmp_path: Path) -> None:
    """The till is stored in the invoice's own transaction: a retry of the same sale from another till
    (the same Idempotency-Key) answers the original invoice and its till, and adds no attribution."""
    with daemon_process(tmp_path) as d:
        kasa2 = till(d, "add", "KASA2").stdout.strip().splitlines()[-1]
        status, first = call(d, d.token, "POST", "/v1/invoices", VALID_BODY, key="sale-1")
        assert status == 201 and first["till"] == "KASA1"
        status, again = call(d, kasa2, "POST", "/v1/invoices", VALID_BODY, key="sale-1")
        assert status == 201 and again["id"] == first["id"] and again["till"] == "KASA1", again
        kor_body = {"reason": "Zwrot", "refund_method": "cash", "changes": [{"line_no": 1, "returned_quantity": "1"}]}
        status, kor = call(d, kasa2, "POST", f"/v1/invoices/{first['id']}/corrections", kor_body, key="kor-1")
        assert status == 201 and kor["till"] == "KASA2", kor
        status, kor_again = call(d, d.token, "POST", f"/v1/invoices/{first['id']}/corrections", kor_body, key="kor-1")
        assert status == 201 and kor_again["till"] == "KASA2", kor_again
        con = sqlite3.connect(d.files.db)
        try:
            rows = con.execute("SELECT invoice_id, till FROM invoice_tills ORDER BY invoice_id").fetchall()
        finally:
            con.close()
        assert rows == [(first["id"], "KASA1"), (kor["id"], "KASA2")]


def test_revoking_the_migrated_config_till_locks_the_old_token_out(tmp_path: Path) -> None:
    with daemon_process(tmp_path) as d:
        assert call(d, d.token, "GET", "/v1/status")[0] == 200
        assert till(d, "revoke", "KASA1").returncode == 0
        assert call(d, d.token, "GET", "/v1/status")[0] == 401
        assert till(d, "revoke", "NOPE").returncode == 2


def test_rotating_the_config_token_moves_only_its_till(tmp_path: Path) -> None:
    from ksef_edge.store.tills import TillRegistry

    registry = TillRegistry.open(tmp_path / "outbox.sqlite3", migrate=True)
    try:
        assert registry.adopt("KASA1", "a" * 32)
        other = registry.add("KASA2")
        assert not registry.adopt("KASA1", "a" * 32)  # restart, same token: nothing changes
        assert registry.adopt("KASA1", "b" * 32)  # the token file was rotated
        assert registry.authenticate("a" * 32) is None and registry.authenticate("b" * 32) == "KASA1"
        assert registry.authenticate(other) == "KASA2"  # the other till is untouched
        registry.revoke("KASA1")
        assert not registry.adopt("KASA1", "c" * 32)  # revoked stays revoked
        assert registry.authenticate("c" * 32) is None
    finally:
        registry.close()
