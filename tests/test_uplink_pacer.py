"""The pacer keeps every sliding window of KSeF's rate limits, on a virtual clock (no real sleeps)."""
from __future__ import annotations

import asyncio

from ksef_edge.ksef.pacer import PRODUCTION_LIMITS, Limit, Pacer
from ksef_edge.ksef.uplink_clock import VirtualClock


def _max_in_window(times: list[float], window_s: float) -> int:
    best, j = 0, 0
    for i, t in enumerate(times):
        while times[j] <= t - window_s:
            j += 1
        best = max(best, i - j + 1)
    return best


async def test_invoice_send_for_two_simulated_hours_never_exceeds_any_window() -> None:
    clock = VirtualClock()
    pacer = Pacer(clock=clock)
    times = []
    for _ in range(400):
        await pacer.acquire("invoiceSend")
        times.append(clock.monotonic())
    assert _max_in_window(times, 1.0) <= 10
    assert _max_in_window(times, 60.0) <= 30
    assert _max_in_window(times, 3600.0) <= 180
    # and it is not needlessly slow: 180 in the first hour, the rest after it
    assert sum(1 for t in times if t < 3600.0) == 180
    assert clock.monotonic() < 3 * 3600


async def test_batch_session_limits_20_per_minute_and_60_per_hour() -> None:
    clock = VirtualClock()
    pacer = Pacer(clock=clock)
    times = []
    for _ in range(70):
        await pacer.acquire("batchSession")
        times.append(clock.monotonic())
    assert _max_in_window(times, 60.0) <= 20
    assert _max_in_window(times, 3600.0) <= 60
    assert times[60] >= 3600.0  # the 61st waits for the hour window


async def test_groups_are_independent_and_bursts_start_immediately() -> None:
    clock = VirtualClock()
    pacer = Pacer(clock=clock)
    for _ in range(10):
        await pacer.acquire("onlineSession")
    assert clock.monotonic() == 0.0  # 10/s burst allowed at once
    await pacer.acquire("invoiceStatus")
    assert clock.monotonic() == 0.0
    await pacer.acquire("onlineSession")
    assert clock.monotonic() > 1.0


async def test_retry_after_blocks_only_that_group() -> None:
    clock = VirtualClock()
    pacer = Pacer(clock=clock)
    pacer.block("invoiceSend", 30)
    await pacer.acquire("other")
    assert clock.monotonic() == 0.0
    await pacer.acquire("invoiceSend")
    assert clock.monotonic() >= 30.0


async def test_limits_from_rate_limits_endpoint_replace_defaults() -> None:
    clock = VirtualClock()
    pacer = Pacer(clock=clock)
    pacer.update_limits({"invoiceSend": Limit(2, 3, 100)})
    times = []
    for _ in range(6):
        await pacer.acquire("invoiceSend")
        times.append(clock.monotonic())
    assert _max_in_window(times, 60.0) <= 3
    assert PRODUCTION_LIMITS["invoiceSend"] == Limit(10, 30, 180)


async def test_concurrent_acquirers_share_the_budget() -> None:
    clock = VirtualClock()
    pacer = Pacer(clock=clock)
    times: list[float] = []

    async def worker() -> None:
        for _ in range(20):
            await pacer.acquire("batchSession")
            times.append(clock.monotonic())

    await asyncio.gather(worker(), worker(), worker())
    times.sort()
    assert _max_in_window(times, 60.0) <= 20
    assert _max_in_window(times, 1.0) <= 10
