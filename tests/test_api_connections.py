"""Bounded resources at the POS API (issue 19, item 3), against a real `ksef-edge run` on loopback.

The daemon starts with the old default of 1 024 open files; 1 100 idle and half-sent connections
must not stop a till from issuing, half-sent requests are closed within `header_timeout_s`, a
connection cap refuses clearly when every connection is busy, and the watchdog's self-check
(api/self_check.py) sees when no client can get an answer.
"""
from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import os
import resource
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

from daemon_fixtures import VALID_BODY, DaemonProcess, daemon_process
from ksef_edge.api.self_check import api_answers

HEADER_TIMEOUT_S = 3.0
BODY_TIMEOUT_S = 3.0


@contextlib.contextmanager
def open_files_limit(soft: int) -> Iterator[None]:
    old_soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(soft, hard), hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (old_soft, hard))


@contextlib.contextmanager
def live_daemon(dir: Path, connections_max: int) -> Iterator[DaemonProcess]:
    api = (f"connections_max = {connections_max}\nheader_timeout_s = {HEADER_TIMEOUT_S}\n"
           f"body_timeout_s = {BODY_TIMEOUT_S}\n")
    with open_files_limit(1024):  # the daemon inherits the limit that once ran out
        cm = daemon_process(dir, api_extra=api)
        d = cm.__enter__()
    try:
        yield d
    finally:
        cm.__exit__(None, None, None)


def address(d: DaemonProcess) -> tuple[str, int]:
    host, port = d.base_url.removeprefix("http://").split(":")
    return host, int(port)


def issue(d: DaemonProcess, timeout_s: float = 10.0) -> tuple[int, dict]:
    conn = http.client.HTTPConnection(*address(d), timeout=timeout_s)
    try:
        conn.request("POST", "/v1/invoices", body=json.dumps(VALID_BODY), headers={
            "Authorization": f"Bearer {d.token}", "Content-Type": "application/json", "Idempotency-Key": uuid.uuid4().hex,
        })
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read())
    finally:
        conn.close()


def answers(d: DaemonProcess) -> bool:
    """The watchdog's self-check, on a loop of its own (never replacing the test process's current loop)."""
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(api_answers(address(d), tls=False))
    finally:
        loop.close()


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def closed_by_peer(sock: socket.socket, wait_s: float) -> bool:
    sock.settimeout(wait_s)
    try:
        return sock.recv(1024) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


PARTIAL_HEAD = b"POST /v1/invoices HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Le"


def test_1100_idle_and_half_sent_connections_do_not_stop_a_till(tmp_path: Path) -> None:
    with open_files_limit(4096), live_daemon(tmp_path, connections_max=256) as d:
        socks: list[socket.socket] = []
        try:
            for i in range(1100):
                s = socket.create_connection(address(d), timeout=5)
                if i % 2:
                    s.sendall(PARTIAL_HEAD)
                socks.append(s)
            started = time.monotonic()
            status, answer = issue(d)
            took = time.monotonic() - started
            assert status == 201, answer
            assert took < 5.0, f"the till waited {took:.1f} s"
            assert open_fds(d.proc.pid) < 256 + 128  # the cap holds; the old daemon used every descriptor
            assert issue(d)[0] == 201
        finally:
            for s in socks:
                s.close()


def test_half_sent_request_is_closed_within_the_header_timeout(tmp_path: Path) -> None:
    with live_daemon(tmp_path, connections_max=64) as d:
        with socket.create_connection(address(d), timeout=5) as s:
            s.sendall(PARTIAL_HEAD)
            started = time.monotonic()
            assert closed_by_peer(s, HEADER_TIMEOUT_S + 5)
            took = time.monotonic() - started
        assert HEADER_TIMEOUT_S - 0.5 <= took <= HEADER_TIMEOUT_S + 2.0, took
        with socket.create_connection(address(d), timeout=5) as s:  # a dribbled head gains nothing
            started = time.monotonic()
            for byte in PARTIAL_HEAD[:20]:
                with contextlib.suppress(OSError):
                    s.sendall(bytes([byte]))
                time.sleep(0.1)  # 2 s of dribbling, still inside the deadline counted from the connect
            assert closed_by_peer(s, HEADER_TIMEOUT_S + 5)
            assert time.monotonic() - started <= HEADER_TIMEOUT_S + 2.0


def test_slow_body_gets_408_and_a_full_cap_is_refused_clearly(tmp_path: Path) -> None:
    cap = 16
    with live_daemon(tmp_path, connections_max=cap) as d:
        head = (f"POST /v1/invoices HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {d.token}\r\n"
                "Content-Type: application/json\r\nIdempotency-Key: slow-1\r\nContent-Length: 500\r\n\r\n{").encode()
        busy = []
        try:
            for _ in range(cap):
                s = socket.create_connection(address(d), timeout=5)
                s.sendall(head)  # a complete head, then the body never comes: inside a request
                busy.append(s)
            time.sleep(0.5)
            assert not answers(d)  # the watchdog would stop pinging
            with socket.create_connection(address(d), timeout=5) as extra:
                extra.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                refusal = extra.recv(4096)
            assert refusal.startswith(b"HTTP/1.1 503") and b"too_many_connections" in refusal
            busy[0].settimeout(BODY_TIMEOUT_S + 5)
            answer = busy[0].recv(4096)
            assert answer.startswith(b"HTTP/1.1 408") and b"body_timeout" in answer
        finally:
            for s in busy:
                s.close()
        time.sleep(0.5)
        assert answers(d)
        status, answer = issue(d)
        assert status == 201, answer
