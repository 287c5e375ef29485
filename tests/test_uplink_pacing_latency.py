"""Why the 30-minute production-limits run could still draw 429s under machine load, each fixed in code.

KSeF counts a request when it *arrives*; the pacer used to count it when it was *allowed*. A
request that spent longer in flight than the pacer's margin (a busy Pi, a slow link) left our
window before it left KSeF's, and the next request drew a 429. And aiohttp silently sent a GET a
second time when a kept-alive connection dropped: KSeF counted a request the pacer never saw.
"""
from __future__ import annotations

import pytest

from ksef_edge.ksef.client import KsefClient
from ksef_edge.ksef.errors import KsefUnavailable
from ksef_edge.ksef.pacer import Pacer
from ksef_edge.ksef.uplink_clock import VirtualClock
from uplink_fixtures import CONTEXT, TOKEN, start_sim


async def test_a_request_is_counted_when_it_ends_not_when_it_started() -> None:
    clock = VirtualClock()
    pacer = Pacer(clock=clock)
    first = await pacer.acquire("batchSession")
    await clock.sleep(5.0)  # the request is in flight for 5 s; KSeF may count it at any moment until then
    pacer.settle("batchSession", first)
    for _ in range(59):
        pacer.settle("batchSession", await pacer.acquire("batchSession"))
    await pacer.acquire("batchSession")  # the 61st in the hour waits for the *end* of the first
    assert clock.monotonic() >= 3600.0 + 5.0


@pytest.fixture
def sim(tmp_path):
    s = start_sim(tmp_path, rate_limits="prod")
    yield s
    s.stop()


async def test_a_slow_send_does_not_make_the_next_one_draw_429(sim) -> None:
    # 1 invoice per second; the first send is held 0.8 s before KSeF's gateway counts it
    await sim.admin("POST", "/admin/rate-limits",
                    {"limits": {"invoiceSend": {"perSecond": 1, "perMinute": 100, "perHour": 1000}}})
    await sim.admin("POST", "/admin/faults", {"rule": "POST sessions/online/*/invoices=slow@0.8:1:1"})
    async with KsefClient(sim.env, context=CONTEXT, token_provider=lambda: TOKEN, timeout_s=10) as client:
        client.pacer.update_limits(await client.rate_limits())
        session = await client.open_online_session()
        for i in range(3):
            await client.send_invoice(session, f"<Faktura>{i}</Faktura>".encode())
        assert client.throttled == 0, "KSeF answered 429: the pacer counted the slow send too early"


async def test_a_dropped_get_is_reported_not_silently_sent_again(sim) -> None:
    async with KsefClient(sim.env, context=CONTEXT, token_provider=lambda: TOKEN, timeout_s=10) as client:
        session = await client.open_online_session()
        # KSeF answers the status query, then the connection drops before we read it
        await sim.admin("POST", "/admin/faults", {"rule": "GET sessions/*=drop:1:1"})
        with pytest.raises(KsefUnavailable):
            await client.session_status(session.reference_number)
        assert (await client.session_status(session.reference_number)).code == 100
