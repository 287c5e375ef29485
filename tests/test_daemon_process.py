"""`ksef-edge run` as a real subprocess: start-up, sd_notify, SIGTERM, SIGKILL recovery, bad config."""
from __future__ import annotations

import base64
import hashlib
import json
import random
import signal
import socket
import sqlite3
import subprocess
import threading
import time
import urllib.error
import urllib.request

from daemon_fixtures import (
    PYTHON,
    VALID_BODY,
    daemon_process,
    start_daemon_process,
    stop_process,
    wait_healthy,
    write_dev_keystore,
    write_device_config,
)


def http(method, url, *, token=None, body=None, key=None, timeout=5):
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if key:
        headers["Idempotency-Key"] = key
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def test_daemon_serves_api_and_stops_cleanly_on_sigterm(tmp_path):
    with daemon_process(tmp_path) as d:
        status, raw = http("POST", d.base_url + "/v1/invoices", token=d.token, body=VALID_BODY, key="p1")
        assert status == 201, raw
        inv = json.loads(raw)
        status, xml = http("GET", d.base_url + f"/v1/invoices/{inv['id']}/xml", token=d.token)
        assert base64.b64encode(hashlib.sha256(xml).digest()).decode() == inv["sha256"]
        status, st = http("GET", d.base_url + "/v1/status", token=d.token)
        assert json.loads(st)["certificate"]["backend"] == "file"
        d.proc.send_signal(signal.SIGTERM)
        assert d.proc.wait(15) == 0
    log = d.log_path.read_text()
    assert d.token not in log
    assert "stopped" in log


def test_sd_notify_ready_and_watchdog_reach_notify_socket(tmp_path):
    sock_path = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(sock_path)
    sock.settimeout(20)
    keystore = write_dev_keystore(tmp_path)
    files = write_device_config(tmp_path, keystore_toml=keystore)
    proc, log_path = start_daemon_process(files, env={"NOTIFY_SOCKET": sock_path, "WATCHDOG_USEC": "400000"})
    try:
        messages: list[str] = []
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not (
            any("READY=1" in m for m in messages) and sum("WATCHDOG=1" in m for m in messages) >= 2
        ):
            messages.append(sock.recv(4096).decode())
        ready = [m for m in messages if "READY=1" in m]
        assert ready, f"no READY=1 in {messages}: {log_path.read_text()[-1500:]}"
        # READY only after the API answers (store + keystore + certificate checks passed)
        status, _ = http("GET", f"http://127.0.0.1:{files.port}/healthz")
        assert status == 200
        assert sum("WATCHDOG=1" in m for m in messages) >= 2
        proc.send_signal(signal.SIGTERM)
        stopping = sock.recv(4096).decode()
        while "WATCHDOG=1" == stopping:
            stopping = sock.recv(4096).decode()
        assert "STOPPING=1" in stopping
        assert proc.wait(15) == 0
    finally:
        stop_process(proc)
        sock.close()


def test_bad_config_refuses_to_start_with_one_line_naming_the_key(tmp_path):
    files = write_device_config(tmp_path, extra_toml="[clock]\nfloor_tolerance_s = -5\n")
    out = subprocess.run(
        [PYTHON, "-m", "ksef_edge", "run", "--config", str(files.config)], capture_output=True, text=True, timeout=30
    )
    assert out.returncode == 2
    lines = [ln for ln in out.stderr.splitlines() if ln.strip()]
    assert lines == ["ksef-edge: config error: [clock] floor_tolerance_s: must be >= 0 seconds"]


def test_missing_certificate_refuses_to_start_and_selfcheck_says_why(tmp_path):
    write_dev_keystore(tmp_path)
    (tmp_path / "offline-cert.pem").unlink()
    keystore = 'backend = "file"\nkey_path = "offline-key.p8"\ncert_path = "offline-cert.pem"\npassphrase_file = "key-passphrase"\n'
    files = write_device_config(tmp_path, keystore_toml=keystore)
    out = subprocess.run([PYTHON, "-m", "ksef_edge", "run", "--config", str(files.config)], capture_output=True, text=True, timeout=30)
    assert out.returncode == 1
    assert "cannot start" in out.stderr and "cert install" in out.stderr
    check = subprocess.run([PYTHON, "-m", "ksef_edge", "selfcheck", "--config", str(files.config)], capture_output=True, text=True, timeout=30)
    assert check.returncode == 1
    assert "OK config" in check.stdout and "FAIL signer" in check.stdout


def test_selfcheck_ok_on_a_good_device(tmp_path):
    keystore = write_dev_keystore(tmp_path)
    files = write_device_config(tmp_path, keystore_toml=keystore)
    check = subprocess.run([PYTHON, "-m", "ksef_edge", "selfcheck", "--config", str(files.config)], capture_output=True, text=True, timeout=30)
    assert check.returncode == 0, check.stdout
    assert "will be created" in check.stdout and "signer ok" in check.stdout


def test_sigkill_during_a_stream_of_posts_loses_and_duplicates_nothing(tmp_path):
    rng = random.Random(4)
    keystore = write_dev_keystore(tmp_path)
    files = write_device_config(tmp_path, keystore_toml=keystore)
    base = f"http://127.0.0.1:{files.port}"
    acknowledged: dict[str, dict] = {}  # idempotency key -> 201 body
    attempted: list[str] = []
    counter = iter(range(10**6))

    def stream(stop: threading.Event) -> None:
        while not stop.is_set():
            key = f"s{next(counter)}"
            attempted.append(key)
            try:
                status, raw = http("POST", base + "/v1/invoices", token=files.token, body=VALID_BODY, key=key, timeout=3)
            except (urllib.error.URLError, ConnectionError, OSError):
                continue
            if status == 201:
                acknowledged[key] = json.loads(raw)

    for cycle in range(5):
        proc, log_path = start_daemon_process(files)
        wait_healthy(base, proc, log_path)
        stop = threading.Event()
        workers = [threading.Thread(target=stream, args=(stop,)) for _ in range(3)]
        for w in workers:
            w.start()
        # kill once this cycle's stream is surely running (some new 201s), not after a lucky sleep
        want = len(acknowledged) + rng.randint(3, 12)
        deadline = time.monotonic() + 60
        while len(acknowledged) < want and time.monotonic() < deadline:
            time.sleep(0.005)
        assert len(acknowledged) >= want, f"cycle {cycle}: the stream never got going"
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        stop.set()
        for w in workers:
            w.join(10)

    # restart once more: recovery must succeed and every acknowledged invoice must be there, once
    proc, log_path = start_daemon_process(files)
    try:
        wait_healthy(base, proc, log_path)
        for key, body in list(acknowledged.items())[:20]:  # a retry after the crash returns the original
            status, raw = http("POST", base + "/v1/invoices", token=files.token, body=VALID_BODY, key=key)
            assert status == 201 and json.loads(raw)["number"] == body["number"]
    finally:
        stop_process(proc)
    assert len(acknowledged) > 20, "the stream issued too few invoices to prove anything"
    con = sqlite3.connect(files.db)
    rows = con.execute("SELECT id, number, seq, series, xml, sha256, idempotency_key FROM invoices ORDER BY id").fetchall()
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    con.close()
    by_key = {r[6]: r for r in rows}
    assert len(by_key) == len(rows)
    for key, body in acknowledged.items():
        row = by_key[key]
        assert row[1] == body["number"]
        assert base64.b64encode(row[5]).decode() == body["sha256"]
    for series in {r[3] for r in rows}:
        seqs = [r[2] for r in rows if r[3] == series]
        assert seqs == list(range(1, len(seqs) + 1)), "numbering has a gap or repeat"
    for _, number, _, _, xml, sha, _ in rows:
        assert hashlib.sha256(xml).digest() == sha
        assert number.encode() in xml


def test_sigterm_during_a_stream_finishes_in_flight_requests(tmp_path):
    keystore = write_dev_keystore(tmp_path)
    files = write_device_config(tmp_path, keystore_toml=keystore)
    base = f"http://127.0.0.1:{files.port}"
    proc, log_path = start_daemon_process(files)
    wait_healthy(base, proc, log_path)
    results: list[tuple[str, int | None, bytes]] = []
    counter = iter(range(10**6))

    def stream() -> None:
        while proc.poll() is None:
            key = f"t{next(counter)}"
            try:
                status, raw = http("POST", base + "/v1/invoices", token=files.token, body=VALID_BODY, key=key, timeout=5)
            except (urllib.error.URLError, ConnectionError, OSError):
                status, raw = None, b""
            results.append((key, status, raw))

    workers = [threading.Thread(target=stream) for _ in range(3)]
    for w in workers:
        w.start()
    deadline = time.monotonic() + 60                     # stop while the stream surely runs
    while sum(1 for r in results if r[1] == 201) < 10 and time.monotonic() < deadline:
        time.sleep(0.005)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(15) == 0
    for w in workers:
        w.join(10)
    answered = [r for r in results if r[1] is not None]
    # From the first moment of a stop, a new request is refused with 503 `stopping` (docs/api.md) and
    # stores nothing; every request already in flight finishes with its 201.
    issued = [r for r in answered if r[1] == 201]
    refused = [r for r in answered if r[1] != 201]
    assert issued, answered
    assert all(status == 503 and json.loads(raw)["error"]["code"] == "stopping" for _, status, raw in refused), refused
    con = sqlite3.connect(files.db)
    stored = dict(con.execute("SELECT idempotency_key, number FROM invoices").fetchall())
    con.close()
    for key, _, raw in issued:
        assert stored[key] == json.loads(raw)["number"]
    assert not any(key in stored for key, _, _ in refused)
