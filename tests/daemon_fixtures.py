"""Reusable daemon fixtures: a device config in a tmp dir, an in-process daemon, a real `ksef-edge run`.

- `write_device_config(dir, ...) -> DeviceFiles`: TOML + POS token file (+ dev key/cert when the
  keystore provides them) in `dir`.
- `in_process_daemon(dir, ...)`: async context manager; starts `service.Daemon` on a free
  127.0.0.1 port with an in-memory EC signer; yields `RunningDaemon(base_url, token, daemon, files)`.
- fixtures `daemon` (an in-process daemon of the test's own) and `http` (an aiohttp session);
  `api_call(d, method, path, body=, key=) -> (status, json)`, `stored_invoices(db) -> int` (rows in the outbox).
- `daemon_process(dir, ...)`: context manager; starts `ksef-edge run --config` as a real
  subprocess, waits for /healthz, yields `DaemonProcess(base_url, token, proc, files)`, stops it
  (SIGTERM, then SIGKILL). Needs the keystore's file backend and dev certificate helper.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import os
import secrets
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, AsyncIterator, Iterator

import aiohttp
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID, ObjectIdentifier

REPO = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
SELLER_NIP = "5265877635"
BUYER_NIP = "1111111111"
VALID_BODY: dict[str, Any] = {
    "buyer": {"nip": BUYER_NIP, "name": "Kawiarnia Sp. z o.o.", "address": "ul. Prosta 1, 00-001 Warszawa"},
    "lines": [
        {"name": "Kawa", "quantity": "2", "unit": "szt", "unit_price_gross": "12.30", "vat_rate": "23"},
        {"name": "Rogal świętomarciński", "quantity": "1", "unit_price_gross": "9.99", "vat_rate": "5"},
    ],
    "payment": {"method": "card"},
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ------------------------------------------------------------------------------- in-memory signer


class MemorySigner:
    """A KSeF-shaped Offline certificate (EC P-256, nonRepudiation, VATPL-NIP) with its key in memory."""

    def __init__(self, nip: str = SELLER_NIP, *, not_after: dt.datetime | None = None) -> None:
        self._key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.timezone.utc)
        name = x509.Name([
            x509.NameAttribute(NameOID.COMMON_NAME, "ksef-edge test"),
            x509.NameAttribute(ObjectIdentifier("2.5.4.97"), f"VATPL-{nip}"),
            x509.NameAttribute(NameOID.COUNTRY_NAME, "PL"),
        ])
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self._key.public_key())
            .serial_number(int.from_bytes(secrets.token_bytes(8), "big") >> 1 | 1 << 56)
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(not_after or now + dt.timedelta(days=365))
            .add_extension(
                x509.KeyUsage(False, True, False, False, False, False, False, False, False), critical=True
            )
            .sign(self._key, hashes.SHA256())
        )
        self._cert = cert
        self.certificate_der = cert.public_bytes(serialization.Encoding.DER)
        self.certificate_serial = format(cert.serial_number, "X").zfill(16)
        self.backend_name = "memory"
        self.warnings: tuple[str, ...] = ()

    @property
    def public_key(self) -> ec.EllipticCurvePublicKey:
        return self._key.public_key()

    def sign(self, data: bytes) -> bytes:
        r, s = decode_dss_signature(self._key.sign(data, ec.ECDSA(hashes.SHA256())))
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")


# ------------------------------------------------------------------------------------ config files


@dataclass
class DeviceFiles:
    dir: Path
    config: Path
    token: str
    db: Path
    port: int
    extra: dict[str, Any] = field(default_factory=dict)


def write_device_config(
    dir: Path,
    *,
    port: int | None = None,
    keystore_toml: str | None = None,
    extra_toml: str = "",
    api_extra: str = "",
    uplink: str = "off",
    ksef_toml: str | None = None,
    pos: str = "KASA1",
) -> DeviceFiles:
    dir.mkdir(parents=True, exist_ok=True)
    token = secrets.token_hex(24)
    (dir / "pos-token").write_text(token + "\n")
    os.chmod(dir / "pos-token", 0o600)
    port = port or free_port()
    if keystore_toml is None:  # in-process tests inject a MemorySigner; the key paths are never opened
        keystore_toml = ('backend = "file"\nkey_path = "offline-key.p8"\ncert_path = "offline-cert.pem"\n'
                         'passphrase_file = "key-passphrase"\ntoken_path = "ksef-token.json"\n')
    text = f"""
[device]
pos_id = "{pos}"
series_pattern = "FV/{{pos}}/{{yyyy}}/{{mm}}/{{seq:06}}"

[seller]
nip = "{SELLER_NIP}"
name = "Piekarnia Testowa Sp. z o.o."
address_line1 = "ul. Kwiatowa 1"
address_line2 = "00-001 Warszawa"

[api]
listen_host = "127.0.0.1"
listen_port = {port}
token_file = "pos-token"
{api_extra}
[store]
path = "outbox.sqlite3"

[keystore]
{keystore_toml}
[ksef]
{ksef_toml if ksef_toml is not None else 'environment = "test"'}
uplink = "{uplink}"

{extra_toml}
"""
    (dir / "device.toml").write_text(text)
    return DeviceFiles(dir=dir, config=dir / "device.toml", token=token, db=dir / "outbox.sqlite3", port=port)


# -------------------------------------------------------------------------------- in-process daemon


@dataclass
class RunningDaemon:
    base_url: str
    token: str
    daemon: Any
    files: DeviceFiles
    signer: MemorySigner

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@contextlib.asynccontextmanager
async def in_process_daemon(
    dir: Path,
    *,
    now: Any = None,
    signer: MemorySigner | None = None,
    extra_toml: str = "",
    api_extra: str = "",
    uplink: str = "off",
) -> AsyncIterator[RunningDaemon]:
    from ksef_edge.config import load_config
    from ksef_edge.service import Daemon

    files = write_device_config(dir, extra_toml=extra_toml, api_extra=api_extra, uplink=uplink)
    config = load_config(files.config)
    signer = signer or MemorySigner()
    kwargs = {"now": now} if now is not None else {}
    daemon = Daemon(config, signer=signer, **kwargs)
    await daemon.start()
    base = f"http://{daemon.bound[0]}:{daemon.bound[1]}" if isinstance(daemon.bound, tuple) else "http://device"
    try:
        yield RunningDaemon(base, files.token, daemon, files, signer)
    finally:
        await daemon.stop()


@pytest.fixture
async def daemon(tmp_path: Path) -> AsyncIterator[RunningDaemon]:
    """An in-process daemon of this test's own (default config, memory signer)."""
    async with in_process_daemon(tmp_path) as d:
        yield d


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


async def api_call(d: RunningDaemon, method: str, path: str, body: Any = None, key: str | None = None) -> tuple[int, Any]:
    """One request with the POS token (and an Idempotency-Key if given): (status, JSON body)."""
    headers = {**d.auth, **({"Idempotency-Key": key} if key else {})}
    async with aiohttp.ClientSession() as session:
        async with session.request(method, d.base_url + path, json=body, headers=headers) as r:
            return r.status, await r.json()


def stored_invoices(db: Path) -> int:
    """How many rows the outbox file holds (read with plain sqlite3, beside the daemon)."""
    con = sqlite3.connect(db)
    try:
        return con.execute("SELECT COUNT(*) FROM invoices").fetchone()[0]
    finally:
        con.close()


# ------------------------------------------------------------------------------ subprocess daemon


@dataclass
class DaemonProcess:
    base_url: str
    token: str
    proc: subprocess.Popen[bytes]
    files: DeviceFiles
    log_path: Path

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def write_dev_keystore(dir: Path, *, nip: str = SELLER_NIP) -> str:
    """An encrypted-file Offline key + a KSeF-shaped test certificate for it; returns the [keystore] TOML body.

    Every keystore path is in `dir`, the KSeF token's too: its default is the device's /var/lib/ksef-edge,
    where a test must never read or write."""
    from ksef_edge.keystore.devcert import make_test_certificate
    from ksef_edge.keystore.file_backend import generate_file_key
    from ksef_edge.keystore.passphrase import PassphraseSource

    passphrase = dir / "key-passphrase"
    passphrase.write_text(secrets.token_urlsafe(24) + "\n")
    os.chmod(passphrase, 0o600)
    key = generate_file_key(dir / "offline-key.p8", PassphraseSource(file=passphrase), algorithm="ec")
    try:
        (dir / "offline-cert.pem").write_bytes(make_test_certificate(key.public_key(), nip=nip))
    finally:
        key.close()
    return (
        'backend = "file"\n'
        'key_path = "offline-key.p8"\n'
        'cert_path = "offline-cert.pem"\n'
        'passphrase_file = "key-passphrase"\n'
        'token_path = "ksef-token.json"\n'
    )


def start_daemon_process(files: DeviceFiles, *, env: dict[str, str] | None = None) -> tuple[subprocess.Popen[bytes], Path]:
    log_path = files.dir / f"daemon-{time.monotonic_ns()}.log"
    proc_env = {k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "JOURNAL_STREAM", "INVOCATION_ID")}
    proc_env.update(env or {})
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [PYTHON, "-m", "ksef_edge", "run", "--config", str(files.config)],
            stdout=log, stderr=subprocess.STDOUT, env=proc_env, cwd=files.dir,
        )
    return proc, log_path


def wait_healthy(base_url: str, proc: subprocess.Popen[bytes], log_path: Path, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"daemon exited with {proc.returncode}: {log_path.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(base_url + "/healthz", timeout=1) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, OSError):
            pass
        time.sleep(0.05)
    raise TimeoutError(f"daemon not healthy after {timeout_s}s: {log_path.read_text()[-2000:]}")


def stop_process(proc: subprocess.Popen[bytes], timeout_s: float = 10.0) -> int:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            return proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
    return proc.wait()


@contextlib.contextmanager
def daemon_process(
    dir: Path,
    *,
    extra_toml: str = "",
    env: dict[str, str] | None = None,
    ksef_toml: str | None = None,
    uplink: str = "off",
    ksef_token: str | None = None,
    api_extra: str = "",
) -> Iterator[DaemonProcess]:
    """`ksef_token`: stored encrypted in the keystore first, so `uplink = "auto"` can authenticate."""
    dir.mkdir(parents=True, exist_ok=True)
    keystore_toml = write_dev_keystore(dir)
    files = write_device_config(
        dir, keystore_toml=keystore_toml, extra_toml=extra_toml, ksef_toml=ksef_toml, uplink=uplink,
        api_extra=api_extra,
    )
    if ksef_token is not None:
        from ksef_edge.config import load_config
        from ksef_edge.keystore.token_store import store_token

        store_token(load_config(files.config).keystore, ksef_token)
    proc, log_path = start_daemon_process(files, env=env)
    base = f"http://127.0.0.1:{files.port}"
    try:
        wait_healthy(base, proc, log_path)
        yield DaemonProcess(base, files.token, proc, files, log_path)
    finally:
        stop_process(proc)
