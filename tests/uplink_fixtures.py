"""Helpers for the uplink tests: a real `ksef-sim` subprocess on 127.0.0.1, a real outbox SQLite
file filled through the real issuance pipeline, and the sim's admin API."""
from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

import aiohttp
import pytest

from daemon_fixtures import free_port
from ksef_edge.domain.deadlines import OfflineMode
from ksef_edge.domain.issuance import issue_document
from ksef_edge.domain.qr import QrEnvironment
from ksef_edge.ksef.models import ContextIdentifier, simulator_environment
from ksef_edge.ksef.uplink import UplinkConfig
from ksef_edge.store import NewInvoice, OutboxStore

NIP = "5265877635"
TOKEN = "20251010-EC-1DCE3E3000-12ECB5B36E-45|nip-5265877635|uplinktest0123456789abcdef"
CONTEXT = ContextIdentifier("Nip", NIP)
# short polls, waits and backoffs: a real sim answers in milliseconds
FAST = UplinkConfig(poll_interval_s=0.1, idle_wait_s=0.2, lost_grace_s=3.0, backoff_base_s=0.1,
                    backoff_max_s=1.0, online_idle_close_s=0.5)
ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable


@dataclass
class Sim:
    proc: subprocess.Popen
    base: str
    log_path: Path

    @property
    def env(self):
        return simulator_environment(self.base)

    async def admin(self, method: str, path: str, body: dict | None = None) -> dict:
        async with aiohttp.ClientSession() as http:
            async with http.request(method, self.base + path, json=body) as resp:
                text = await resp.text()
                assert resp.status < 300, f"sim admin {method} {path}: {resp.status} {text}"
                return await resp.json() if text else {}

    async def invoices(self) -> list[dict]:
        return (await self.admin("GET", "/admin/invoices"))["invoices"]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_sim(tmp: Path, *extra: str, rate_limits: str = "fast") -> Sim:
    """`rate_limits`: "prod" (KSeF production values), "off", or "fast" (production x100, published
    by GET /rate-limits and enforced, so the pacer follows them and real-time tests stay quick)."""
    port = free_port()
    if rate_limits == "fast":
        from ksef_edge.ksef.pacer import PRODUCTION_LIMITS
        path = tmp / "fast-limits.json"
        path.write_text(json.dumps({g: {"perSecond": ln.per_second * 100, "perMinute": ln.per_minute * 100,
                                        "perHour": ln.per_hour * 100} for g, ln in PRODUCTION_LIMITS.items()}))
        rate_limits = str(path)
    log_path = tmp / "sim.log"
    env = dict(os.environ, PYTHONPATH=str(ROOT / "daemon"))
    proc = subprocess.Popen(
        [PYTHON, "-m", "ksef_sim", "--port", str(port), "--token", f"{NIP}={TOKEN}",
         "--rate-limits", rate_limits, "--processing-delay", "0.01", "--seed", "7", "--log-level", "WARNING",
         *extra],
        stdout=log_path.open("wb"), stderr=subprocess.STDOUT, env=env, cwd=str(tmp))
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"ksef-sim exited: {log_path.read_text()[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return Sim(proc, base, log_path)
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("ksef-sim did not start listening within 20 s")


@pytest.fixture
def sim(tmp_path: Path):
    """A `ksef-sim` of this test's own (fast rate limits), stopped after it."""
    s = start_sim(tmp_path)
    yield s
    s.stop()


def warsaw_today() -> dt.date:
    return dt.datetime.now(ZoneInfo("Europe/Warsaw")).date()


async def issue_invoices(store: OutboxStore, signer, n: int, *, prefix: str = "FV",
                         issue_date: dt.date | None = None, mode: OfflineMode = OfflineMode.OFFLINE24,
                         broken: bool = False) -> list[int]:
    """Issue `n` invoices through the real domain pipeline into the real outbox; returns ids.

    `broken=True` stores a file KSeF must reject (XSD violation): what a buggy build would produce.
    """
    from domain_factories import SELLER, invoice, line  # tests/domain_factories.py

    issue_date = issue_date or warsaw_today()
    ids = []
    for i in range(n):
        now = dt.datetime.now(dt.timezone.utc)

        def build(seq: int, created: dt.datetime) -> NewInvoice:
            inv = invoice(line(price=f"{1 + seq % 50}.99"), number=f"{prefix}/{seq:06d}",
                          issue_date=issue_date, created_at=created, seller=SELLER)
            doc = issue_document(inv, signer, env=QrEnvironment.TEST, mode=mode)
            xml = doc.xml
            if broken:
                xml = xml.replace(b"<P_2>", b"<P_2_BROKEN>").replace(b"</P_2>", b"</P_2_BROKEN>")
            import hashlib
            return NewInvoice(number=inv.number, xml=xml, sha256=hashlib.sha256(xml).digest(),
                              issue_date=issue_date, kod1_url=doc.kod1_url or "", kod2_url=doc.kod2_url,
                              cert_serial=doc.cert_serial or "", offline_mode=mode.value, deadline=doc.deadline)

        rec, _ = await store.issue(series=prefix, created_at=now, idempotency_key=f"{prefix}-{i}-{now.timestamp()}",
                                   request_hash=f"h{i}", build=build)
        ids.append(rec.id)
    return ids


async def wait_drained(store: OutboxStore, timeout_s: float) -> dict[str, int]:
    """Until nothing is issued/sending/accepted (all confirmed or rejected), or the timeout."""
    end = time.monotonic() + timeout_s
    counts = await store.counts_by_state()
    while time.monotonic() < end:
        counts = await store.counts_by_state()
        if not (counts["issued"] or counts["sending"] or counts["accepted"]):
            return counts
        await asyncio.sleep(0.2)
    return counts
