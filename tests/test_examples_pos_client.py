"""examples/: the POS clients issue over TLS pinning the fingerprint, with an Idempotency-Key, and retry
a timed-out request without issuing twice. Real `ksef-edge run` with TLS on loopback; a byte-pipe proxy
swallows the first answer so the client really times out; the Node client runs when `node` exists."""
from __future__ import annotations

import contextlib
import json
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from daemon_fixtures import (
    VALID_BODY,
    start_daemon_process,
    stop_process,
    stored_invoices,
    write_dev_keystore,
    write_device_config,
)

REPO = Path(__file__).resolve().parents[1]


@contextlib.contextmanager
def tls_daemon(dir: Path) -> Iterator[tuple[int, str, Path, Path]]:
    """(port, fingerprint, token file, db) of a TLS daemon on 127.0.0.1."""
    cert, key = dir / "api-cert.pem", dir / "api-key.pem"
    out = subprocess.run([sys.executable, "-m", "ksef_edge", "tls", "init", "--cert", str(cert), "--key", str(key),
                          "--name", "127.0.0.1"], capture_output=True, text=True, check=True).stdout
    fp = next(x for x in out.splitlines() if x.startswith("SHA-256 fingerprint: ")).split(": ", 1)[1]
    files = write_device_config(dir, keystore_toml=write_dev_keystore(dir),
                                api_extra=f'tls_cert_file = "{cert}"\ntls_key_file = "{key}"\n')
    proc, log = start_daemon_process(files)
    try:
        ctx = ssl.create_default_context()
        ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, log.read_text()[-2000:]
            try:
                with socket.create_connection(("127.0.0.1", files.port), timeout=1) as raw, ctx.wrap_socket(raw):
                    break
            except OSError:
                assert time.monotonic() < deadline, log.read_text()[-2000:]
                time.sleep(0.1)
        yield files.port, fp, dir / "pos-token", files.db
    finally:
        stop_process(proc)


@contextlib.contextmanager
def swallow_first_answer(target_port: int) -> Iterator[int]:
    """A TCP pipe to the daemon that lets the first connection's TLS handshake and request through but
    never returns its answer: the client times out after the invoice was issued."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()

    def first_request_sent(stream: bytes) -> bool:
        """A TLS application-data record (type 23) of over 200 bytes from the client: the HTTP request."""
        i = 0
        while i + 5 <= len(stream):
            kind, length = stream[i], int.from_bytes(stream[i + 3:i + 5], "big")
            if kind == 23 and length > 200:
                return True
            i += 5 + length
        return False

    def serve_one(client: socket.socket, swallow: bool) -> None:
        upstream = socket.create_connection(("127.0.0.1", target_port))
        sent = bytearray()
        muted = threading.Event()

        def up() -> None:
            with contextlib.suppress(OSError):
                while not stop.is_set():
                    data = client.recv(65536)
                    if not data:
                        break
                    sent.extend(data)
                    if swallow and first_request_sent(bytes(sent)):
                        muted.set()
                    upstream.sendall(data)

        def down() -> None:
            with contextlib.suppress(OSError):
                while not stop.is_set():
                    data = upstream.recv(65536)
                    if not data:
                        break
                    if not muted.is_set():
                        client.sendall(data)

        threading.Thread(target=up, daemon=True).start()
        threading.Thread(target=down, daemon=True).start()

    def serve() -> None:
        first = True
        while not stop.is_set():
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            serve_one(client, first)
            first = False

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join(5)
        listener.close()


def run_python_client(port: int, fp: str, token: Path, body: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(REPO / "examples/pos_client.py"), "--url", f"https://127.0.0.1:{port}",
                           "--fingerprint", fp, "--token-file", str(token), "--body", str(body), *extra],
                          capture_output=True, text=True, timeout=120, check=False)


def test_python_pos_client_pins_and_retries_a_timeout_without_issuing_twice(tmp_path: Path) -> None:
    body = tmp_path / "invoice.json"
    body.write_text(json.dumps(VALID_BODY))
    with tls_daemon(tmp_path / "dev") as (port, fp, token, db):
        with swallow_first_answer(port) as proxy:
            proc = run_python_client(proxy, fp, token, body, "--key", "PARAGON-0001", "--timeout", "3")
        assert proc.returncode == 0, proc.stderr
        answer = json.loads(proc.stdout)
        assert answer["status"] == 201 and answer["replayed"] is True  # the first attempt had issued it
        assert "retrying with the same Idempotency-Key" in proc.stderr
        assert stored_invoices(db) == 1
        wrong = "00:" * 31 + "00"
        proc = run_python_client(port, wrong, token, body)
        assert proc.returncode == 2 and "not the pinned one" in proc.stderr
        assert stored_invoices(db) == 1


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_node_pos_client_pins_and_retries_a_timeout(tmp_path: Path) -> None:
    body = tmp_path / "invoice.json"
    body.write_text(json.dumps(VALID_BODY))
    with tls_daemon(tmp_path / "dev") as (port, fp, token, db):
        def node(p: int, pin: str, *extra: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(["node", str(REPO / "examples/pos_client.mjs"), "--url", f"https://127.0.0.1:{p}",
                                   "--fingerprint", pin, "--token-file", str(token), "--body", str(body), *extra],
                                  capture_output=True, text=True, timeout=120, check=False)

        with swallow_first_answer(port) as proxy:
            proc = node(proxy, fp, "--key", "PARAGON-0002", "--timeout", "3")
        assert proc.returncode == 0, proc.stderr
        answer = json.loads(proc.stdout)
        assert answer["status"] == 201 and answer["replayed"] is True
        assert stored_invoices(db) == 1
        proc = node(port, "00:" * 31 + "00")
        assert proc.returncode == 2 and "not the pinned one" in proc.stderr
        assert stored_invoices(db) == 1
