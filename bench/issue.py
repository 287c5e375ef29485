"""Issue latency through the HTTP API (POST -> durable 201), sequential and with concurrent tills,
sustained throughput at saturation, and the daemon's memory (RSS) idle and after the invoices."""
from __future__ import annotations

import threading

from harness import body_for

from common import PosClient, now, rss_kb, summary_ms

RETRIED_5XX = [0]  # 5xx answers retried by the tills (same Idempotency-Key): should stay 0


def sequential(port: int, token: str, n: int, prefix: str) -> list[float]:
    client = PosClient(port, token)
    lat = []
    try:
        for i in range(n):
            t0 = now()
            status, body = client.post(f"{prefix}-{i}", body_for(i))
            lat.append(now() - t0)
            assert status == 201, body
    finally:
        RETRIED_5XX[0] += client.retried_5xx
        client.close()
    return lat


def concurrent(port: int, token: str, n: int, clients: int, prefix: str) -> tuple[list[float], float]:
    """`clients` tills posting back to back until `n` invoices are issued; returns latencies and wall time."""
    lat: list[float] = []
    lock = threading.Lock()
    counter = iter(range(n))
    errors: list[str] = []

    def till(w: int) -> None:
        client = PosClient(port, token)
        try:
            while True:
                with lock:
                    i = next(counter, None)
                if i is None:
                    return
                t0 = now()
                status, body = client.post(f"{prefix}-{w}-{i}", body_for(i))
                dt_ = now() - t0
                with lock:
                    lat.append(dt_)
                    if status != 201:
                        errors.append(str(body))
        finally:
            with lock:
                RETRIED_5XX[0] += client.retried_5xx
            client.close()

    threads = [threading.Thread(target=till, args=(w,)) for w in range(clients)]
    t0 = now()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = now() - t0
    assert not errors, errors[:3]
    return lat, wall


def measure_issue(device, n: int, clients: int, floor_p50_ms: float, floor_p99_ms: float) -> dict:
    port, token, pid = device.files.port, device.token, device.proc.pid
    idle = rss_kb(pid)
    seq = sequential(port, token, n, "seq")
    conc, wall = concurrent(port, token, n, clients, "conc")
    after = rss_kb(pid)
    s, c = summary_ms(seq), summary_ms(conc)
    for d in (s, c):
        d["p50_vs_floor_p50"] = round(d["p50_ms"] / floor_p50_ms, 2)
        d["p99_vs_floor_p50"] = round(d["p99_ms"] / floor_p50_ms, 2)
        d["p99_vs_floor_p99"] = round(d["p99_ms"] / floor_p99_ms, 2)
    c["clients"] = clients
    c["throughput_per_s"] = round(n / wall, 1)
    return {
        "sequential": s,
        "concurrent": c,
        "rss_idle_mb": round(idle["VmRSS"] / 1024, 1),
        "rss_after_mb": round(after["VmRSS"] / 1024, 1),
        "rss_peak_mb": round(after["VmHWM"] / 1024, 1),
        "invoices_in_store": 2 * n,
        "retried_5xx": RETRIED_5XX[0],
    }
