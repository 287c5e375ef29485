"""Resource faults on a real `ksef-edge run`: disk full during issuance (a small tmpfs), the database
filesystem turning read-only, a corrupt database file at start, the printer vanishing mid-receipt,
and the clock jumping backwards. Each must give a clear error or a degraded state, and lose nothing:
every acknowledged invoice stays stored once, numbering stays gapless, and the till can go on once
the cause is fixed.

Mounting needs root (`mount -t tmpfs`); without it those tests skip and say so. The system clock is
never touched: the clock jump runs the daemon in-process with an injected clock.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import socket
import struct
import subprocess
import threading
import time
from pathlib import Path
from typing import Iterator

import pytest
from harness import Ack, body_for, check_store, make_device, post_invoice, request

from daemon_fixtures import VALID_BODY, in_process_daemon


@contextlib.contextmanager
def tmpfs(path: Path, size: str) -> Iterator[Path]:
    path.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(path)],
                            capture_output=True, text=True)
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({result.stderr.strip() or 'not root?'}); "
                    "run as root to test disk-full and read-only database")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def remount(path: Path, options: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{options}", str(path)], check=True, capture_output=True)


def issue(device, key: str, n: int) -> tuple[int, dict]:
    return post_invoice(device.base_url, device.token, key, body_for(n), timeout=15)


def test_disk_full_refuses_clearly_keeps_everything_and_recovers(tmp_path):
    with tmpfs(tmp_path / "device" / "db", "1m") as db_dir:
        device = make_device(tmp_path / "device", store_path="db/outbox.sqlite3")
        device.start()
        acked: dict[str, Ack] = {}
        try:
            refusal = None
            for n in range(2000):
                key = f"full-{n}"
                status, body = issue(device, key, n)
                if status != 201:
                    refusal = (key, n, status, body)
                    break
                acked[key] = Ack(key, body["id"], body["number"], body["sha256"])
            assert refusal is not None, "a 1 MiB filesystem never filled up"
            key, n, status, body = refusal
            assert device.proc.poll() is None, "the daemon died on a full disk"
            # the cashier is told what is wrong, where, and that the retry is safe
            assert status == 507 and body["error"]["code"] == "storage_full", (status, body)
            message = body["error"]["message"]
            assert "disk is full" in message and str(db_dir) in message and "Idempotency-Key" in message, message
            health_status, raw = request("GET", device.base_url + "/healthz")
            health = json.loads(raw)
            assert health_status == 503 and [p["code"] for p in health["problems"]] == ["storage_full"], health
            check = check_store(device.db, acked)
            assert not check.problems and check.rows == len(acked), check.problems[:5]
            # the till retries the same receipt once space is freed: it gets the next number
            remount(db_dir, "size=64m")
            health_status, raw = request("GET", device.base_url + "/healthz")
            assert health_status == 200, raw
            status2, body2 = issue(device, key, n)
            assert status2 == 201, body2
            acked[key] = Ack(key, body2["id"], body2["number"], body2["sha256"])
            check = check_store(device.db, acked)
            assert not check.problems and check.rows == len(acked), check.problems[:5]
        finally:
            device.stop()


def test_read_only_database_is_refused_at_start_and_nothing_changes(tmp_path):
    """The database filesystem came up read-only (e.g. ext4 errors=remount-ro after a bad SD card
    write). A running daemon cannot be switched under its open files here (the kernel refuses to
    remount a busy tmpfs read-only), so this checks the start: a clear refusal, then recovery."""
    with tmpfs(tmp_path / "device" / "db", "16m") as db_dir:
        device = make_device(tmp_path / "device", store_path="db/outbox.sqlite3")
        device.start()
        acked: dict[str, Ack] = {}
        try:
            for n in range(3):
                status, body = issue(device, f"ro-{n}", n)
                assert status == 201
                acked[f"ro-{n}"] = Ack(f"ro-{n}", body["id"], body["number"], body["sha256"])
        finally:
            assert device.stop() == 0
        remount(db_dir, "ro")
        before = {p.name: p.read_bytes() for p in db_dir.iterdir()}
        device.start(wait=False)
        code = device.proc.wait(30)
        log = device.log_tail()
        assert code != 0, log
        assert {p.name: p.read_bytes() for p in db_dir.iterdir()} == before
        remount(db_dir, "rw")
        device.start()
        try:
            status, body = issue(device, "ro-3", 3)
            assert status == 201, body
            acked["ro-3"] = Ack("ro-3", body["id"], body["number"], body["sha256"])
        finally:
            device.stop()
        check = check_store(device.db, acked)
        assert not check.problems and check.rows == 4, check.problems
    # names the file, the cause and the fix
    assert "cannot start" in log and str(device.db) in log and "read-only" in log, log
    assert "remount,rw" in log, log


def test_corrupt_database_at_start_is_refused_and_left_untouched(tmp_path):
    device = make_device(tmp_path / "device")
    device.start()
    for n in range(30):
        assert issue(device, f"c-{n}", n)[0] == 201
    assert device.stop() == 0
    raw = bytearray(device.db.read_bytes())
    assert len(raw) > 8 * 4096
    raw[4096 * 3:4096 * 3 + 512] = os.urandom(512)  # a torn page in the middle of the invoices table
    device.db.write_bytes(bytes(raw))
    for suffix in ("-wal", "-shm"):
        Path(str(device.db) + suffix).unlink(missing_ok=True)
    before = device.db.read_bytes()
    device.start(wait=False)
    code = device.proc.wait(30)
    log = device.log_tail()
    assert code != 0, log
    assert "cannot start" in log and "restore" in log.lower(), log  # names the problem and the fix
    assert device.db.read_bytes() == before, "a refused start must not modify the evidence"
    # not a database at all (a wrong file restored, a zeroed card)
    device.db.write_bytes(b"this is not an sqlite database" * 300)
    before = device.db.read_bytes()
    device.start(wait=False)
    assert device.proc.wait(30) != 0
    log = device.log_tail()
    assert "cannot start" in log and device.db.read_bytes() == before, log
    assert str(device.db) in log and "not an SQLite database" in log and "backup restore" in log, log


class FlakyPrinter:
    """A TCP receipt printer on 127.0.0.1 that vanishes: the first connection is reset after
    `cut_after` bytes, then the port is closed (refused) until `come_back()`."""

    def __init__(self, cut_after: int = 300) -> None:
        self.cut_after = cut_after
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.sock.listen(5)
        self.received: list[bytes] = []
        self.connections = 0
        self._thread = threading.Thread(target=self._first, daemon=True)
        self._thread.start()

    def _first(self) -> None:
        conn, _ = self.sock.accept()
        self.connections += 1
        got = b""
        while len(got) < self.cut_after:
            chunk = conn.recv(self.cut_after - len(got))
            if not chunk:
                break
            got += chunk
        self.received.append(got)
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        conn.close()  # RST mid-receipt
        self.sock.close()  # and gone: connections are refused

    def come_back(self) -> None:
        self._thread.join(10)
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", self.port))
        self.sock.listen(5)
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        self.sock.settimeout(60)
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            data = b""
            conn.settimeout(10)
            with contextlib.suppress(OSError):
                while chunk := conn.recv(65536):
                    data += chunk
            conn.close()
            self.received.append(data)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()


def wait_print_state(device, invoice_id: int, states: set[str], timeout_s: float = 30) -> dict:
    deadline = time.monotonic() + timeout_s
    inv: dict = {}
    while time.monotonic() < deadline:
        status, raw = request("GET", device.base_url + f"/v1/invoices/{invoice_id}", token=device.token)
        inv = json.loads(raw)
        if inv["print_state"] in states:
            return inv
        time.sleep(0.1)
    raise AssertionError(f"print_state stayed {inv.get('print_state')} (wanted {states}): {device.log_tail()}")


def test_printer_vanishing_mid_receipt_keeps_the_invoice_and_prints_when_back(tmp_path):
    printer = FlakyPrinter()
    printer_toml = (f'[printer]\nconnection = "network"\nhost = "127.0.0.1"\nport = {printer.port}\ntimeout_s = 3\n'
                    'realtime_status = false\n')  # this printer is one-way: the cut must hit a receipt, not a status query
    device = make_device(tmp_path / "device", extra_toml=printer_toml)
    device.start()
    try:
        started = time.perf_counter()
        status, first = post_invoice(device.base_url, device.token, "p-1", VALID_BODY)
        assert status == 201 and time.perf_counter() - started < 2.0, first  # issuance never waits for paper
        # the printer resets the connection after a few hundred bytes, then is gone (refused): that receipt
        # did not print, so it must stay queued (the bytes were only in the kernel's socket buffer)
        first_state = wait_print_state(device, first["id"], {"failed_retrying", "printed"})
        assert first_state["print_state"] == "failed_retrying", first_state
        status, second = post_invoice(device.base_url, device.token, "p-2", VALID_BODY)
        assert status == 201, second
        wait_print_state(device, second["id"], {"failed_retrying"})
        _, raw = request("GET", device.base_url + "/v1/status", token=device.token)
        assert json.loads(raw)["printer"]["state"].startswith("error"), raw  # the cashier sees why
        printer.come_back()
        wait_print_state(device, second["id"], {"printed"}, timeout_s=90)
        wait_print_state(device, first["id"], {"printed"}, timeout_s=90)
        time.sleep(0.5)
        later = b"".join(printer.received[1:])
        for receipt in (first, second):  # both whole receipts arrived once the printer was back
            assert receipt["number"].encode() in later, receipt["number"]
        for n in (first["id"], second["id"]):
            _, raw = request("GET", device.base_url + f"/v1/invoices/{n}", token=device.token)
            assert json.loads(raw)["state"] == "issued"  # the invoices themselves were never affected
    finally:
        device.stop()
        printer.close()
    assert len(printer.received[0]) <= printer.cut_after


async def test_clock_jumping_backwards_refuses_issuance_until_it_is_right_again(tmp_path):
    clock = {"now": dt.datetime.now(dt.timezone.utc)}
    import aiohttp

    async with in_process_daemon(tmp_path, now=lambda: clock["now"]) as d:
        async with aiohttp.ClientSession(headers=d.auth) as http:
            async def post(key: str):
                async with http.post(d.base_url + "/v1/invoices", json=VALID_BODY, headers={"Idempotency-Key": key}) as r:
                    return r.status, await r.json()

            s1, first = await post("k1")
            assert s1 == 201
            clock["now"] -= dt.timedelta(hours=3)  # RTC-less Pi booted with a stale clock
            s2, refused = await post("k2")
            assert s2 == 503 and refused["error"]["code"] == "clock_behind", refused
            async with http.get(d.base_url + "/healthz") as r:
                health = await r.json()
                assert r.status == 503 and health["problems"][0]["code"] == "clock_behind"
            clock["now"] += dt.timedelta(hours=3, seconds=5)  # NTP fixed it
            s3, second = await post("k2")
            assert s3 == 201, second
    n1 = int(first["number"].rsplit("/", 1)[1])
    n2 = int(second["number"].rsplit("/", 1)[1])
    assert n2 == n1 + 1, (first["number"], second["number"])  # the refusal burnt no number
    assert second["created_at"] > first["created_at"]
