"""Shared bench helpers: percentiles, a keep-alive POS client, a daemon on a fresh device dir.

The benchmarks reuse the test fixtures (tests/daemon_fixtures.py, tests/reliability/harness.py) so
they measure exactly the daemon the tests check: `ksef-edge run` as a subprocess on 127.0.0.1.
"""
from __future__ import annotations

import http.client
import json
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
for p in (ROOT / "tests", ROOT / "tests" / "reliability", ROOT / "daemon"):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))


def pct(values: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of `values`, in the values' unit."""
    if not values:
        return float("nan")
    s = sorted(values)
    k = max(0, min(len(s) - 1, int(round(p / 100 * len(s) + 0.5)) - 1))
    return s[k]


def summary_ms(seconds: list[float]) -> dict[str, float]:
    ms = [s * 1000 for s in seconds]
    return {"n": len(ms), "p50_ms": round(pct(ms, 50), 3), "p95_ms": round(pct(ms, 95), 3),
            "p99_ms": round(pct(ms, 99), 3), "max_ms": round(max(ms), 3), "mean_ms": round(statistics.fmean(ms), 3)}


class PosClient:
    """One till: a keep-alive HTTP/1.1 connection to the daemon (reconnects if the server closes it)."""

    def __init__(self, port: int, token: str) -> None:
        self.port, self.token = port, token
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.retried_5xx = 0

    def post(self, key: str, body: dict[str, Any]) -> tuple[int, dict]:
        """POST; a 5xx is retried with the same Idempotency-Key, as a till does (counted in retried_5xx)."""
        for _ in range(5):
            status, resp = self._post_once(key, body)
            if status < 500:
                return status, resp
            self.retried_5xx += 1
        return status, resp

    def _post_once(self, key: str, body: dict[str, Any]) -> tuple[int, dict]:
        data = json.dumps(body).encode()
        headers = {"Authorization": f"Bearer {self.token}", "Content-Type": "application/json", "Idempotency-Key": key}
        for attempt in range(2):
            try:
                self.conn.request("POST", "/v1/invoices", body=data, headers=headers)
                resp = self.conn.getresponse()
                return resp.status, json.loads(resp.read())
            except (http.client.HTTPException, ConnectionError):
                self.conn.close()
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def get(self, path: str) -> tuple[int, Any]:
        self.conn.request("GET", path, headers={"Authorization": f"Bearer {self.token}"})
        resp = self.conn.getresponse()
        raw = resp.read()
        return resp.status, json.loads(raw) if raw[:1] in (b"{", b"[") else raw

    def close(self) -> None:
        self.conn.close()


def rss_kb(pid: int) -> dict[str, int]:
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(("VmRSS:", "VmHWM:")):
            out[line.split(":")[0]] = int(line.split()[1])
    return out


def machine() -> dict[str, Any]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import os
    import sqlite3

    return {"arch": platform.machine(), "cpus": os.cpu_count(), "cpu": cpu, "python": platform.python_version(),
            "sqlite": sqlite3.sqlite_version, "kernel": platform.release(),
            "load_avg_at_start": [round(x, 2) for x in os.getloadavg()],
            "mem_total_mb": int(Path("/proc/meminfo").read_text().split()[1]) // 1024}


def now() -> float:
    return time.perf_counter()
