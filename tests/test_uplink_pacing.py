"""Production rate limits over 30 simulated minutes: the pacer alone keeps KSeF from ever answering 429.

The simulator enforces KSeF's production limits on its own frozen clock; the uplink runs on a
virtual clock whose every sleep moves the simulator's clock by the same amount (no real sleeping).
"""
from __future__ import annotations

import asyncio

import pytest

from ksef_edge.ksef.models import parse_datetime
from ksef_edge.ksef.runner import open_uplink
from ksef_edge.ksef.uplink import UplinkConfig
from ksef_edge.ksef.uplink_clock import VirtualClock
from ksef_edge.store import OutboxStore
from uplink_fixtures import CONTEXT, TOKEN, issue_invoices, start_sim

SIM_MINUTES = 30


@pytest.fixture
def prod_sim(tmp_path):
    s = start_sim(tmp_path, rate_limits="prod")
    yield s
    s.stop()


async def test_30_simulated_minutes_at_production_limits_get_zero_429(prod_sim, tmp_path, ec_signer):
    sim = prod_sim
    await sim.admin("POST", "/admin/clock", {"freeze": True})
    sim_now = parse_datetime((await sim.admin("GET", "/admin/clock"))["now"])

    async def advance(seconds: float) -> None:
        await sim.admin("POST", "/admin/clock", {"advance_s": seconds})

    clock = VirtualClock(start=sim_now, on_advance=advance)
    db = tmp_path / "outbox.db"
    issuer = await OutboxStore.open(db)
    # online only (threshold above the queue), so invoiceSend 10/s, 30/min, 180/h is the binding limit;
    # polls every simulated second compete for invoiceStatus / sessionInvoiceList budgets too
    config = UplinkConfig(batch_threshold=500, poll_interval_s=1.0, idle_wait_s=5.0, online_sends_per_step=50,
                          lost_grace_s=3.0, online_idle_close_s=120.0)
    await issue_invoices(issuer, ec_signer, 260)
    uplink, close = await open_uplink(db, sim.env, context=CONTEXT, token_provider=lambda: TOKEN,
                                      config=config, clock=clock, timeout_s=10)
    uplink.start()
    try:
        for _ in range(2400):  # real-time safety net; the run ends on the virtual clock
            if clock.monotonic() >= SIM_MINUTES * 60:
                break
            await asyncio.sleep(0.025)
        assert clock.monotonic() >= SIM_MINUTES * 60, "the uplink stopped advancing its clock"
    finally:
        await uplink.stop()
        await close()
    counts = await issuer.counts_by_state()
    await issuer.close()
    invoices = await sim.invoices()
    in_ksef = len(invoices)
    assert all(i["count"] == 1 for i in invoices), [i for i in invoices if i["count"] != 1]
    assert uplink.client.throttled == 0, f"KSeF answered 429 {uplink.client.throttled} times"
    # busy, not idle: the whole first-hour budget (180) goes out at 30/min; the next send legitimately
    # waits for the hour window, which may carry the virtual clock past the 30 minutes in one sleep
    hours = int(clock.monotonic() // 3600) + 1
    assert 180 <= in_ksef <= 180 * hours, (in_ksef, counts, clock.monotonic())
    assert counts["confirmed"] + counts["accepted"] + counts["sending"] >= in_ksef
