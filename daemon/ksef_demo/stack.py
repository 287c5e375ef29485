"""The demo's processes: `ksef-sim` and `ksef-edge run` on loopback with a generated device, and an API client."""
from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from ksef_demo.offline import DEMO_SELLER
from ksef_edge.civil_time import warsaw_date

POS_ID = "DEMO1"
# KSEF_EDGE_DEMO_SLOWDOWN stretches the waits on a slow machine (scripts/test-arm64 under qemu-user: ~15).
SLOWDOWN = max(1.0, float(os.environ.get("KSEF_EDGE_DEMO_SLOWDOWN") or 1))
START_TIMEOUT_S = 30.0 * SLOWDOWN
PRINT_TIMEOUT_S = 15.0 * SLOWDOWN
UPLINK_TIMEOUT_S = 90.0 * SLOWDOWN
FINAL_STATES = ("confirmed", "rejected")
IN_KSEF_STATES = ("accepted", "confirmed")


class DemoError(Exception):
    """The demo cannot go on; the message says what failed and where its log is."""


# ---------------------------------------------------------------------------------------- helpers


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _demo_ksef_token(nip: str, today: dt.date) -> str:
    """A token shaped like KSeF's (`<date>-EC-...|nip-<NIP>|<secret>`); only the simulator knows it."""
    return (f"{today:%Y%m%d}-EC-{secrets.token_hex(5).upper()}-{secrets.token_hex(5).upper()}-"
            f"{secrets.token_hex(1).upper()}|nip-{nip}|{secrets.token_hex(32)}")


class Api:
    """The daemon's local HTTP API with the POS bearer token (urllib: nothing to install)."""

    def __init__(self, base_url: str, token: str) -> None:
        self.base_url = base_url
        self._token = token

    def request(self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None,
                timeout: float = 30.0) -> tuple[int, bytes]:
        data = None if body is None else json.dumps(body, ensure_ascii=False).encode()
        hdrs = {"Authorization": f"Bearer {self._token}", **(headers or {})}
        if data is not None:
            hdrs["Content-Type"] = "application/json"
        req = urllib.request.Request(self.base_url + path, data=data, method=method, headers=hdrs)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def json(self, method: str, path: str, body: Any = None, **kw: Any) -> Any:
        status, raw = self.request(method, path, body, **kw)
        if status >= 300:
            raise DemoError(f"{method} {path} answered {status}: {raw[:500].decode(errors='replace')}")
        return json.loads(raw)

    def bytes(self, path: str) -> bytes:
        status, raw = self.request("GET", path)
        if status != 200:
            raise DemoError(f"GET {path} answered {status}: {raw[:500].decode(errors='replace')}")
        return raw


# ------------------------------------------------------------------------------------ the processes


@dataclass
class Stack:
    """The running simulator and daemon, and where their files are."""

    work: Path  # private temp dir: config, keystore, token, database, printer sink
    sim_url: str
    api: Api
    token: str
    sink: Path
    cert_pem: Path
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def daemon_url(self) -> str:
        return self.api.base_url


def _wait_http(url: str, proc: subprocess.Popen[bytes], log: Path, what: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise DemoError(f"{what} exited with code {proc.returncode}; last log lines:\n{_tail(log)}")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.1)
    raise DemoError(f"{what} did not answer {url} within {START_TIMEOUT_S:.0f} s; see {log}")


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def _child_env() -> dict[str, str]:
    """Our package importable in the children even without an install; no systemd variables leaking in."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "JOURNAL_STREAM", "INVOCATION_ID")}
    package_root = str(Path(__file__).resolve().parents[1])
    env["PYTHONPATH"] = package_root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def write_device(work: Path, *, port: int, sim_api: str, ksef_token: str) -> tuple[Path, str, Path, Path]:
    """Device config + keystore in `work`; returns (config path, POS token, printer sink, certificate)."""
    from ksef_edge.keystore import KeystoreConfig
    from ksef_edge.keystore.certificates import OFFLINE
    from ksef_edge.keystore.devcert import make_test_certificate
    from ksef_edge.keystore.file_backend import generate_file_key
    from ksef_edge.keystore.files import write_private_file
    from ksef_edge.keystore.passphrase import PassphraseSource
    from ksef_edge.keystore.token_store import store_token

    nip = DEMO_SELLER.nip or ""
    write_private_file(work / "key-passphrase", (secrets.token_urlsafe(24) + "\n").encode(), overwrite=True,
                       what="passphrase file")
    key = generate_file_key(work / "offline-key.p8", PassphraseSource(file=work / "key-passphrase"), algorithm="ec")
    try:
        cert = make_test_certificate(key.public_key(), nip=nip, kind=OFFLINE, organization="Piekarnia Pod Złotym Kłosem")
    finally:
        key.close()
    (work / "offline-cert.pem").write_bytes(cert)
    keystore = KeystoreConfig(backend="file", key_path=work / "offline-key.p8", cert_path=work / "offline-cert.pem",
                              token_path=work / "ksef-token.json", passphrase_credential=None,
                              passphrase_file=work / "key-passphrase")
    store_token(keystore, ksef_token)
    pos_token = secrets.token_hex(24)
    write_private_file(work / "pos-token", (pos_token + "\n").encode(), overwrite=True, what="POS token file")
    sink = work / "printer.bin"
    address = DEMO_SELLER.address
    seller_name = DEMO_SELLER.name.replace('"', '\\"')
    (work / "device.toml").write_text(f"""# ksef-edge demo device (generated by ksef_demo)
[device]
pos_id = "{POS_ID}"
series_pattern = "FV/{{pos}}/{{yyyy}}/{{mm}}/{{seq:06}}"
place_of_issue = "Gdynia"

[seller]
nip = "{nip}"
name = "{seller_name}"
address_line1 = "{address.line1 if address else ''}"
address_line2 = "{address.line2 if address and address.line2 else ''}"

[api]
listen_host = "127.0.0.1"
listen_port = {port}
token_file = "pos-token"

[store]
path = "outbox.sqlite3"

[keystore]
backend = "file"
key_path = "offline-key.p8"
cert_path = "offline-cert.pem"
token_path = "ksef-token.json"
passphrase_file = "key-passphrase"

[printer]
connection = "file"
file_path = "{sink}"
paper = "80mm"

[ksef]
environment = "simulator"
api_base_url = "{sim_api}"
uplink = "auto"
""", encoding="utf-8")
    sample = Path(__file__).resolve().parents[2] / "firmware-config" / "products.example.csv"
    if sample.exists():  # the shop's product list (the till page reads products.csv next to device.toml)
        (work / "products.csv").write_bytes(sample.read_bytes())
    return work / "device.toml", pos_token, sink, work / "offline-cert.pem"


@contextlib.contextmanager
def running_stack(logs: Path, *, port: int | None = None, say: Callable[[str], None] = print) -> Iterator[Stack]:
    """Start the simulator and the daemon; stop both (and delete the private files) on exit."""
    today = warsaw_date(dt.datetime.now(dt.timezone.utc))
    nip = DEMO_SELLER.nip or ""
    logs.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="ksef-edge-demo-"))
    procs: list[subprocess.Popen[bytes]] = []
    try:
        ksef_token = _demo_ksef_token(nip, today)
        sim_port = free_port()
        sim_log = logs / "ksef-sim.log"
        say(f"• starting the KSeF simulator on 127.0.0.1:{sim_port}")
        with open(sim_log, "wb") as log:
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "ksef_sim", "--host", "127.0.0.1", "--port", str(sim_port),
                 "--token", f"{nip}={ksef_token}", "--processing-delay", "0.2", "--log-level", "WARNING"],
                stdout=log, stderr=subprocess.STDOUT, env=_child_env(), cwd=work))
        sim_url = f"http://127.0.0.1:{sim_port}"
        _wait_http(sim_url + "/admin/health", procs[0], sim_log, "ksef-sim")

        port = port or free_port()
        say("• creating a development key, an Offline TEST certificate and the KSeF token custody")
        config, pos_token, sink, cert = write_device(work, port=port, sim_api=sim_url + "/v2", ksef_token=ksef_token)
        daemon_log = logs / "ksef-edge.log"
        say(f"• starting ksef-edge on 127.0.0.1:{port}")
        with open(daemon_log, "wb") as log:
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "ksef_edge", "run", "--config", str(config)],
                stdout=log, stderr=subprocess.STDOUT, env=_child_env(), cwd=work))
        base = f"http://127.0.0.1:{port}"
        _wait_http(base + "/healthz", procs[1], daemon_log, "ksef-edge")
        yield Stack(work, sim_url, Api(base, pos_token), pos_token, sink, cert, procs)
    finally:
        for proc in reversed(procs):
            _stop(proc)
        shutil.rmtree(work, ignore_errors=True)
