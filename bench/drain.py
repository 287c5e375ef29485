"""Backlog drain: invoices issued while offline (the outbox the API bench filled), then ksef-sim comes
up with KSeF's production rate limits; the daemon's own uplink code uploads them (batch sessions)."""
from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from common import now

BATCH_SESSIONS_PER_MIN = 20  # production limit, batchSession perMinute (protocol.md §9.2)
KSEF_INVOICES_PER_BATCH_MAX = 10_000


def _counts(db: Path) -> dict[str, int]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return dict(conn.execute("SELECT state, COUNT(*) FROM invoices GROUP BY state").fetchall())
    finally:
        conn.close()


async def _drain(db: Path, sim, timeout_s: float) -> dict:
    from ksef_edge.ksef.runner import open_uplink
    from ksef_edge.ksef.uplink import UplinkConfig
    from uplink_fixtures import CONTEXT, TOKEN

    config = UplinkConfig(poll_interval_s=0.5, idle_wait_s=0.5)
    uplink, close = await open_uplink(db, sim.env, context=CONTEXT, token_provider=lambda: TOKEN, config=config)
    total = sum(_counts(db).values())
    t0 = now()
    accepted_at = confirmed_at = None
    uplink.start()
    try:
        while now() - t0 < timeout_s:
            c = _counts(db)
            if accepted_at is None and c.get("accepted", 0) + c.get("confirmed", 0) == total:
                accepted_at = now() - t0
            if c.get("confirmed", 0) == total:
                confirmed_at = now() - t0
                break
            await asyncio.sleep(0.2)
    finally:
        await uplink.stop()
        await close()
    return {"invoices": total, "all_accepted_s": accepted_at, "all_confirmed_s": confirmed_at,
            "final_states": _counts(db), "batch_invoices_max": config.batch_invoices_max}


def time_list_for_upload(db: Path, timeout_s: float) -> dict:
    """One `OutboxStore.list_for_upload(500)` (the uplink's first query each step) on the queued store,
    in a child process so a runaway query can be stopped."""
    import subprocess
    import sys

    code = ("import asyncio,sys,time\nfrom ksef_edge.store import OutboxStore\n"
            "async def m():\n s=await OutboxStore.open(sys.argv[1]); t=time.perf_counter()\n"
            " r=await s.list_for_upload(500); print(len(r), time.perf_counter()-t)\n"
            "asyncio.run(m())\n")
    try:
        out = subprocess.run([sys.executable, "-c", code, str(db)], capture_output=True, text=True, timeout=timeout_s)
        n, secs = out.stdout.split()
        return {"rows": int(n), "seconds": round(float(secs), 3), "timed_out": False}
    except subprocess.TimeoutExpired:
        return {"rows": None, "seconds": None, "timed_out": True, "timeout_s": timeout_s}


def measure_drain(db: Path, workdir: Path, timeout_s: float) -> dict:
    from uplink_fixtures import start_sim

    workdir.mkdir(parents=True, exist_ok=True)
    sim = start_sim(workdir, rate_limits="prod")
    try:
        result = asyncio.run(_drain(db, sim, timeout_s))
        from harness import sim_hash_counts

        in_ksef = sim_hash_counts(sim)
        result["in_ksef"] = len(in_ksef)
        result["in_ksef_more_than_once"] = sum(1 for v in in_ksef.values() if v > 1)
    finally:
        sim.stop()
    n = result["invoices"]
    per_session = result["batch_invoices_max"]
    sessions = -(-n // per_session)
    # the earliest the batchSession limits (10/s, 20/min) let this many sessions open
    if sessions <= 10:
        min_s_client = 0.0
    elif sessions <= BATCH_SESSIONS_PER_MIN:
        min_s_client = 1.0
    else:
        min_s_client = (sessions - BATCH_SESSIONS_PER_MIN) / BATCH_SESSIONS_PER_MIN * 60.0
    t = result["all_accepted_s"]
    result["batch_sessions_needed"] = sessions
    result["limit_floor_s_at_client_batch_size"] = round(min_s_client, 1)
    result["limit_floor_sessions_at_ksef_max"] = -(-n // KSEF_INVOICES_PER_BATCH_MAX)
    result["invoices_per_s"] = round(n / t, 1) if t else None
    allowed_rate = BATCH_SESSIONS_PER_MIN * per_session / 60.0  # sustained invoices/s the batch limit allows
    result["fraction_of_limit_rate"] = round((n / t) / allowed_rate, 2) if t else None
    return result
