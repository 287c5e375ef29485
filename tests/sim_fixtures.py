"""Reusable fixtures: the KSeF simulator (`ksef-sim`) as a real subprocess on 127.0.0.1.

Import into a test module: `from sim_fixtures import ksef_sim, ksef_sim_factory  # noqa: F401`.
- `ksef_sim`: a simulator shared by the test session, reset (state, clock, faults, limits) before each
  test; accepts KSeF token `SIM_TOKEN` for NIP `SIM_NIP`.
- `ksef_sim_factory(*args, state_dir=None)`: start your own (custom CLI args, persisted state);
  all are stopped at the end of the test.
`SimProcess` exposes `api_url` (…/v2, give it to a KSeF client), `latarnia_url`, and synchronous admin
helpers (`add_token`, `advance_clock`, `freeze_clock`, `add_fault`, `down`, `up`, `latarnia`, …).
"""
from __future__ import annotations

import json
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from daemon_fixtures import free_port
from sim_client import ContractChecker, KsefTestClient

REPO = Path(__file__).resolve().parent.parent
KSEF_SIM = REPO / ".venv" / "bin" / "ksef-sim"
SIM_NIP = "5265877635"
SIM_TOKEN = "20251010-EC-1DCE3E3000-12ECB5B36E-45|nip-5265877635|sim0000000000000000000000000000000000000000000000000000000000001"
START_TIMEOUT_S = 20.0


class SimProcess:
    """One running `ksef-sim` subprocess and its admin API."""

    def __init__(self, args: list[str], state_dir: Path | None, log_path: Path) -> None:
        self.args = list(args)
        self.state_dir = state_dir
        self.log_path = log_path
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def root_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        return self.root_url + "/v2"

    base_url = api_url

    @property
    def latarnia_url(self) -> str:
        return self.root_url + "/latarnia"

    def start(self) -> "SimProcess":
        cmd = [str(KSEF_SIM), "--host", "127.0.0.1", "--port", str(self.port), *self.args]
        if self.state_dir is not None:
            cmd += ["--state", str(self.state_dir)]
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=REPO)
        log.close()
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"ksef-sim exited with {self.proc.returncode}: {self.log_path.read_text()[-2000:]}")
            try:
                self.admin("GET", "/admin/health")
                return self
            except (urllib.error.URLError, ConnectionError, OSError):
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"ksef-sim did not answer within {START_TIMEOUT_S}s; log: {self.log_path}")

    def stop(self, *, kill: bool = False) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)

    def restart(self, *, kill: bool = False) -> "SimProcess":
        self.stop(kill=kill)
        self.port = free_port()
        return self.start()

    # --- admin API (synchronous, usable from sync and async tests) ---------------------------------
    def admin(self, method: str, path: str, body: dict | None = None) -> object:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.root_url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            payload = resp.read()
        return json.loads(payload) if payload else None

    def reset(self) -> None:
        self.admin("POST", "/admin/reset")

    def add_token(self, nip: str, token: str) -> dict:
        return self.admin("POST", "/admin/tokens", {"nip": nip, "token": token})  # type: ignore[return-value]

    def advance_clock(self, seconds: float) -> dict:
        return self.admin("POST", "/admin/clock", {"advance_s": seconds})  # type: ignore[return-value]

    def freeze_clock(self) -> dict:
        return self.admin("POST", "/admin/clock", {"freeze": True})  # type: ignore[return-value]

    def add_fault(self, rule: str | dict) -> list:
        body = {"rule": rule} if isinstance(rule, str) else rule
        return self.admin("POST", "/admin/faults", body)  # type: ignore[return-value]

    def clear_faults(self) -> None:
        self.admin("DELETE", "/admin/faults")

    def down(self, mode: str = "503") -> None:
        self.admin("POST", "/admin/down", {"mode": mode})

    def up(self) -> None:
        self.admin("POST", "/admin/up")

    def latarnia(self, status: str, **kw) -> dict:
        return self.admin("POST", "/admin/latarnia", {"status": status, **kw})  # type: ignore[return-value]

    def rate_limits(self, *, mode: str | None = None, limits: dict | None = None) -> dict:
        body: dict = {}
        if mode:
            body["mode"] = mode
        if limits:
            body["limits"] = limits
        return self.admin("POST", "/admin/rate-limits", body)  # type: ignore[return-value]

    def settings(self, **kw) -> dict:
        return self.admin("POST", "/admin/settings", kw)  # type: ignore[return-value]

    def invoices(self) -> list[dict]:
        return self.admin("GET", "/admin/invoices")["invoices"]  # type: ignore[index]


@pytest.fixture(scope="session")
def _shared_ksef_sim(tmp_path_factory) -> Iterator[SimProcess]:
    log = tmp_path_factory.mktemp("ksef-sim") / "ksef-sim.log"
    sim = SimProcess(["--token", f"{SIM_NIP}={SIM_TOKEN}"], None, log).start()
    yield sim
    sim.stop()


@pytest.fixture
def ksef_sim(_shared_ksef_sim: SimProcess) -> SimProcess:
    """The shared simulator, reset to a clean state; token SIM_TOKEN accepted for SIM_NIP."""
    if _shared_ksef_sim.proc is None or _shared_ksef_sim.proc.poll() is not None:
        _shared_ksef_sim.start()
    _shared_ksef_sim.reset()
    return _shared_ksef_sim


@pytest.fixture
def ksef_sim_factory(tmp_path: Path) -> Iterator:
    """`start(*cli_args, state_dir=None) -> SimProcess`; every started simulator is stopped afterwards."""
    started: list[SimProcess] = []

    def start(*args: str, state_dir: Path | None = None) -> SimProcess:
        sim = SimProcess(["--token", f"{SIM_NIP}={SIM_TOKEN}", *args], state_dir,
                         tmp_path / f"ksef-sim-{len(started)}.log")
        started.append(sim)
        return sim.start()

    yield start
    for sim in started:
        sim.stop()


@pytest.fixture
async def ksef_client(ksef_sim: SimProcess) -> AsyncIterator[KsefTestClient]:
    """A KsefTestClient on the shared simulator; every API exchange is checked against open-api.json."""
    async with KsefTestClient(ksef_sim.api_url, checker=ContractChecker(ksef_sim.api_url)) as client:
        yield client


__all__ = ["SIM_NIP", "SIM_TOKEN", "SimProcess", "free_port", "ksef_sim", "ksef_sim_factory", "_shared_ksef_sim",
           "ksef_client"]
