"""Exactly once through every fault the simulator can inject, and through SIGKILL of the uplink."""
from __future__ import annotations

import asyncio
import base64
import os
import random
import signal
import subprocess
import time
from collections import Counter

import pytest

from ksef_edge.ksef.runner import open_uplink
from ksef_edge.ksef.uplink import UplinkConfig
from ksef_edge.store import InvoiceState, OutboxStore
from uplink_fixtures import CONTEXT, NIP, PYTHON, ROOT, TOKEN, issue_invoices, start_sim, wait_drained

FAULTS = [
    # every kind the simulator has, on every endpoint the uplink uses
    "POST sessions/online/*/invoices=500:0.05", "POST sessions/online/*/invoices=reset:0.05",
    "POST sessions/online/*/invoices=drop:0.1", "POST sessions/online/*/invoices=timeout@1.5:0.03",
    "POST sessions/online/*/invoices=slow@1.5:0.03",
    "POST sessions/online=503:0.1", "POST sessions/online/*/close=drop:0.2",
    "POST sessions/batch=500:0.1", "POST sessions/batch=drop:0.1",
    "POST sessions/batch/*/close=drop:0.2", "POST sessions/batch/*/close=reset:0.1",
    "PUT storage/batch/*=reset:0.1", "PUT storage/batch/*=502:0.1",
    "GET sessions/*/invoices=500:0.05", "GET sessions/*/invoices=timeout@1.5:0.02",
    "GET sessions/*=reset:0.03", "GET storage/upo/*=500:0.05",
    "POST auth/ksef-token=500:0.2", "POST auth/token/redeem=reset:0.1",
]
FAULT_CONFIG = UplinkConfig(poll_interval_s=0.1, idle_wait_s=0.2, lost_grace_s=3.0, backoff_base_s=0.05,
                            backoff_max_s=0.5, online_idle_close_s=0.3, batch_threshold=30)


async def _exactly_once(store: OutboxStore, sim, ids: list[int]) -> None:
    per_hash = Counter(i["invoiceHash"] for i in await sim.invoices())
    problems = []
    for invoice_id in ids:
        rec = await store.get(invoice_id)
        n = per_hash[base64.b64encode(rec.sha256).decode()]
        if rec.state is not InvoiceState.CONFIRMED or n != 1:
            problems.append((rec.number, rec.state.value, n, rec.reject_reason))
    assert not problems, f"{len(problems)} invoices not exactly once: {problems[:10]}"
    assert sum(per_hash.values()) == len(ids)


async def _faults_run(tmp_path, signer, n: int, timeout_s: float) -> None:
    sim = start_sim(tmp_path)
    db = tmp_path / "outbox.db"
    issuer = await OutboxStore.open(db)
    uplink, close = await open_uplink(db, sim.env, context=CONTEXT, token_provider=lambda: TOKEN,
                                      config=FAULT_CONFIG, timeout_s=1.0)
    try:
        await sim.admin("POST", "/admin/faults", {"rules": FAULTS})
        uplink.start()
        ids = await issue_invoices(issuer, signer, n * 2 // 3)          # a backlog: batch sessions
        for _ in range(n - len(ids)):                                  # then a till's trickle: online
            ids += await issue_invoices(issuer, signer, 1, prefix="FT")
            uplink.notify()
            await asyncio.sleep(0.01)
        counts = await wait_drained(issuer, timeout_s)
        assert counts["confirmed"] == n, counts
        await sim.admin("DELETE", "/admin/faults")
        await _exactly_once(issuer, sim, ids)
    finally:
        await uplink.stop()
        await close()
        await issuer.close()
        sim.stop()


async def test_300_invoices_through_random_faults_land_exactly_once(tmp_path, ec_signer):
    await _faults_run(tmp_path, ec_signer, 300, 120)


@pytest.mark.slow
async def test_2000_invoices_through_random_faults_land_exactly_once(tmp_path, ec_signer):
    await _faults_run(tmp_path, ec_signer, 2000, 600)


def _spawn_uplink(tmp_path, sim, *extra: str) -> subprocess.Popen:
    token_file = tmp_path / "token.txt"
    token_file.write_text(TOKEN)
    env = dict(os.environ, PYTHONPATH=str(ROOT / "daemon"))
    return subprocess.Popen(
        [PYTHON, "-m", "ksef_edge.ksef.runner", "--db", str(tmp_path / "outbox.db"), "--api", sim.env.api_base,
         "--nip", NIP, "--token-file", str(token_file), "--timeout", "1", "--lost-grace", "3", "--poll", "0.1",
         "--batch-threshold", "30", *extra],
        env=env, stdout=(tmp_path / "uplink.log").open("ab"), stderr=subprocess.STDOUT)


# Each round the uplink's sends are held by the simulator (fault kind `hold`), so the SIGKILL surely
# lands while invoices are `sending` with their requests unanswered. Replacing the rules at the next
# round releases the held requests: KSeF then handles them for a client that is gone, which the next
# uplink must find out (asking, not resending) for every invoice to land exactly once.
SIGKILL_FAULTS = ["POST sessions/online/*/invoices=drop:0.1", "POST sessions/batch/*/close=drop:0.2",
                  "POST sessions/online/*/invoices=hold", "POST sessions/batch/*/close=hold"]


async def _held_requests(sim) -> int:
    return sum(rule["held"] for rule in await sim.admin("GET", "/admin/faults") if rule["kind"] == "hold")


async def _wait_held(sim, timeout_s: float) -> int:
    """Until this uplink process has a send request held unanswered by the simulator."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if held := await _held_requests(sim):
            return held
        await asyncio.sleep(0.02)
    return 0


async def test_uplink_killed_with_sigkill_mid_sending_still_delivers_exactly_once(tmp_path, ec_signer):
    sim = start_sim(tmp_path)
    issuer = await OutboxStore.open(tmp_path / "outbox.db")
    rng = random.Random(11)
    try:
        ids = await issue_invoices(issuer, ec_signer, 120)
        in_flight_at_kill = []
        for round_ in range(6):
            await sim.admin("POST", "/admin/faults", {"replace": True, "rules": SIGKILL_FAULTS})
            if round_ % 2 == 0 and round_:
                ids += await issue_invoices(issuer, ec_signer, 40, prefix=f"B{round_}")  # backlog: batch
            proc = _spawn_uplink(tmp_path, sim)
            if round_ % 2:
                for _ in range(8):                                     # trickle while it runs: online path
                    ids += await issue_invoices(issuer, ec_signer, 1, prefix=f"K{round_}")
                    await asyncio.sleep(0.02)
            assert await _wait_held(sim, 60), f"round {round_}: the uplink never sent anything"
            await asyncio.sleep(rng.uniform(0.0, 0.3))                 # held sends stay in flight meanwhile
            held = await _held_requests(sim)
            sending = (await issuer.counts_by_state())["sending"]
            proc.send_signal(signal.SIGKILL)
            in_flight_at_kill.append(min(held, sending))
            proc.wait()
        await sim.admin("DELETE", "/admin/faults")
        proc = _spawn_uplink(tmp_path, sim, "--until-drained")
        rc = await asyncio.get_running_loop().run_in_executor(None, proc.wait, 120)
        assert rc == 0, (tmp_path / "uplink.log").read_text()[-3000:]
        assert len(in_flight_at_kill) == 6 and all(in_flight_at_kill), in_flight_at_kill
        await _exactly_once(issuer, sim, ids)
    finally:
        await issuer.close()
        sim.stop()
