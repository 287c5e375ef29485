"""Stopping is quick (issue #25): with KSeF hanging, a stop still ends in well under the unit's stop
timeout, and from its first moment the API refuses to issue (503 `stopping`, a Polish message for
the cashier's page) instead of numbering invoices that may never get their answer."""
from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import sqlite3
import threading
import time
from pathlib import Path
from typing import Iterator

import aiohttp

from daemon_fixtures import (
    VALID_BODY,
    MemorySigner,
    daemon_process,
    write_dev_keystore,
    write_device_config,
)
from sim_fixtures import SIM_TOKEN as SIM_TOKEN_FOR_TESTS

STOP_BUDGET_S = 5.0  # the bound; the unit's TimeoutStopSec is 30 s


@contextlib.contextmanager
def black_hole() -> Iterator[int]:
    """A "KSeF" on loopback that accepts connections and never answers: the worst outage for a stop."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    held: list[socket.socket] = []
    done = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not done.is_set():
            with contextlib.suppress(OSError):
                conn, _ = server.accept()
                held.append(conn)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1]
    finally:
        done.set()
        thread.join(2)
        for conn in held:
            conn.close()
        server.close()


def _ksef_toml(port: int) -> str:
    return f'environment = "simulator"\napi_base_url = "http://127.0.0.1:{port}/v2"\nuplink_idle_s = 0.2'


def _post(base: str, token: str, key: str) -> tuple[int, bytes]:
    import json
    import urllib.error
    import urllib.request

    req = urllib.request.Request(base + "/v1/invoices", data=json.dumps(VALID_BODY).encode(), method="POST",
                                 headers={"Authorization": f"Bearer {token}", "Idempotency-Key": key,
                                          "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def test_sigterm_returns_within_5s_while_ksef_hangs_and_the_invoice_stays_queued(tmp_path: Path) -> None:
    with black_hole() as port:
        with daemon_process(tmp_path, ksef_toml=_ksef_toml(port), uplink="auto",
                            ksef_token=SIM_TOKEN_FOR_TESTS) as d:
            status, _ = _post(d.base_url, d.token, "q-1")
            assert status == 201
            time.sleep(1.5)  # the uplink is now inside a KSeF request that will never be answered
            started = time.monotonic()
            d.proc.send_signal(signal.SIGTERM)
            code = d.proc.wait(30)
            elapsed = time.monotonic() - started
        log = d.log_path.read_text()
    print(f"stop with KSeF hanging took {elapsed:.2f} s")  # docs/benchmarks.md
    assert code == 0, log[-2000:]
    assert elapsed < STOP_BUDGET_S, f"stop took {elapsed:.1f}s: {log[-2000:]}"
    con = sqlite3.connect(d.files.db)
    try:
        states = [r[0] for r in con.execute("SELECT state FROM invoices")]
    finally:
        con.close()
    assert states in (["issued"], ["sending"])  # durable: the next start sends or resolves it


async def test_issuing_is_refused_with_503_from_the_first_moment_of_a_stop(tmp_path: Path) -> None:
    from ksef_edge.config import load_config
    from ksef_edge.keystore.token_store import store_token
    from ksef_edge.service import Daemon

    with black_hole() as port:
        files = write_device_config(tmp_path, keystore_toml=write_dev_keystore(tmp_path),
                                    ksef_toml=_ksef_toml(port), uplink="auto")
        config = load_config(files.config)
        store_token(config.keystore, SIM_TOKEN_FOR_TESTS)
        daemon = Daemon(config, signer=MemorySigner())
        await daemon.start()
        base = f"http://{daemon.bound[0]}:{daemon.bound[1]}"
        headers = {"Authorization": f"Bearer {files.token}"}
        async with aiohttp.ClientSession() as http:
            async with http.post(base + "/v1/invoices", json=VALID_BODY,
                                 headers={**headers, "Idempotency-Key": "s-1"}) as r:
                assert r.status == 201
            await asyncio.sleep(1.0)  # the uplink is stuck on the black hole
            stopping = asyncio.create_task(daemon.stop())
            await asyncio.sleep(0.2)
            async with http.post(base + "/v1/invoices", json=VALID_BODY,
                                 headers={**headers, "Idempotency-Key": "s-2"}) as r:
                body = await r.json()
                assert r.status == 503, body
                assert r.headers["Retry-After"] == "60"
            async with http.get(base + "/v1/invoices", headers=headers) as r:
                assert r.status == 200  # reading still works until the listener closes
            started = time.monotonic()
            await stopping
            assert time.monotonic() - started < STOP_BUDGET_S
    assert body["error"]["code"] == "stopping"
    assert "faktury NIE wystawiono" in body["error"]["message"]  # Polish, shown as is on the page
    con = sqlite3.connect(files.db)
    try:
        assert con.execute("SELECT COUNT(*) FROM invoices").fetchone()[0] == 1  # s-2 was not numbered
    finally:
        con.close()
