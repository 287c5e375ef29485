"""ksef-sim rate limits (429 + Retry-After on a virtual clock), injected faults, KSeF down/up,
Latarnia availability, and state that survives a restart."""
from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest

from sim_client import ContractChecker, KsefTestClient, template_invoice
from sim_fixtures import SIM_NIP, SIM_TOKEN


async def test_invoice_send_limit_answers_429_with_retry_after(ksef_client: KsefTestClient, ksef_sim):
    await ksef_client.authenticate(SIM_NIP, SIM_TOKEN)
    limits = (await ksef_client.expect(200, "GET", "/rate-limits")).json()
    assert limits["invoiceSend"] == {"perSecond": 10, "perMinute": 30, "perHour": 180}
    session, crypto = await ksef_client.open_online()
    ksef_sim.freeze_clock()
    path = f"/sessions/online/{session}/invoices"
    for n in range(10):
        await ksef_client.expect(202, "POST", path, json_body=ksef_client.invoice_payload(crypto, template_invoice(n)))
    over = await ksef_client.request("POST", path, json_body=ksef_client.invoice_payload(crypto, template_invoice(99)))
    assert over.status == 429 and over.headers["Retry-After"] == "1"
    assert over.json()["status"]["code"] == 429 and "10" in over.json()["status"]["details"][0]
    problem = await ksef_client.request("POST", path, headers={"X-Error-Format": "problem-details"},
                                        json_body=ksef_client.invoice_payload(crypto, template_invoice(99)))
    assert problem.status == 429 and problem.json()["status"] == 429
    assert problem.headers["Content-Type"].startswith("application/problem+json")
    ksef_sim.advance_clock(1)
    for n in range(10, 30):
        if n == 20:
            ksef_sim.advance_clock(1)
        await ksef_client.expect(202, "POST", path, json_body=ksef_client.invoice_payload(crypto, template_invoice(n)))
    minute = await ksef_client.request("POST", path, json_body=ksef_client.invoice_payload(crypto, template_invoice(99)))
    assert minute.status == 429 and int(minute.headers["Retry-After"]) == 58   # oldest of 30 leaves the minute
    ksef_sim.advance_clock(58)
    await ksef_client.expect(202, "POST", path, json_body=ksef_client.invoice_payload(crypto, template_invoice(31)))


async def test_server_error_fault_fires_once_then_clears(ksef_client: KsefTestClient, ksef_sim):
    ksef_sim.add_fault("POST auth/challenge=503:1:1")
    assert (await ksef_client.request("POST", "/auth/challenge", bearer=None)).status == 503
    assert (await ksef_client.request("POST", "/auth/challenge", bearer=None)).status == 200


async def test_timeout_fault_holds_the_request_past_the_client_timeout(ksef_client: KsefTestClient, ksef_sim):
    ksef_sim.add_fault("auth/challenge=timeout@5:1:1")
    with pytest.raises(asyncio.TimeoutError):
        await ksef_client.request("POST", "/auth/challenge", bearer=None, timeout_s=0.3)
    assert (await ksef_client.request("POST", "/auth/challenge", bearer=None)).status == 200


async def test_reset_fault_breaks_the_connection(ksef_client: KsefTestClient, ksef_sim):
    ksef_sim.add_fault("auth/challenge=reset:1:1")
    with pytest.raises(aiohttp.ClientError):
        await ksef_client.request("POST", "/auth/challenge", bearer=None)
    assert (await ksef_client.request("POST", "/auth/challenge", bearer=None)).status == 200


async def test_slow_fault_answers_late_but_answers(ksef_client: KsefTestClient, ksef_sim):
    ksef_sim.add_fault({"path": "security/public-key-certificates", "kind": "slow", "delay_s": 0.4, "count": 1})
    started = time.monotonic()
    assert (await ksef_client.request("GET", "/security/public-key-certificates", bearer=None)).status == 200
    assert time.monotonic() - started >= 0.4


async def test_hold_fault_keeps_the_request_unanswered_until_the_rule_is_removed(ksef_client: KsefTestClient,
                                                                                ksef_sim):
    ksef_sim.add_fault("GET security/public-key-certificates=hold")
    call = asyncio.ensure_future(ksef_client.request("GET", "/security/public-key-certificates", bearer=None))
    deadline = time.monotonic() + 10
    while ksef_sim.admin("GET", "/admin/faults")[0]["held"] != 1:
        assert time.monotonic() < deadline and not call.done(), "the request was not held"
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.3)
    assert not call.done()                                      # held, not answered late
    ksef_sim.clear_faults()                                     # releases it: handled normally
    assert (await asyncio.wait_for(call, 10)).status == 200


async def test_commit_then_drop_accepts_the_invoice_and_resend_is_440(ksef_client: KsefTestClient, ksef_sim):
    await ksef_client.authenticate(SIM_NIP, SIM_TOKEN)
    session, crypto = await ksef_client.open_online()
    xml = template_invoice(77)
    ksef_sim.add_fault("sessions/online/*/invoices=drop:1:1")
    with pytest.raises(aiohttp.ClientError):
        await ksef_client.send_invoice(session, crypto, xml, offline_mode=True)
    resent = await ksef_client.send_invoice(session, crypto, xml, offline_mode=True)
    status = await ksef_client.wait_invoice(session, resent)
    [stored] = ksef_sim.invoices()
    assert status["status"]["code"] == 440
    assert status["status"]["extensions"]["originalKsefNumber"] == stored["ksefNumber"]
    assert stored["count"] == 1 and stored["submissions"] == 2


async def test_down_answers_503_or_resets_until_up(ksef_client: KsefTestClient, ksef_sim):
    ksef_sim.down("503")
    assert (await ksef_client.request("POST", "/auth/challenge", bearer=None)).status == 503
    ksef_sim.down("reset")
    with pytest.raises(aiohttp.ClientError):
        await ksef_client.request("POST", "/auth/challenge", bearer=None)
    ksef_sim.up()
    assert (await ksef_client.request("POST", "/auth/challenge", bearer=None)).status == 200


async def test_latarnia_reports_failure_and_its_end(ksef_sim):
    async with aiohttp.ClientSession() as http:
        async def get(path):
            async with http.get(ksef_sim.latarnia_url + path) as resp:
                return await resp.json()
        assert await get("/status") == {"status": "AVAILABLE", "messages": []}
        ksef_sim.latarnia("FAILURE", start="2026-11-26T08:00:00+01:00", title="Awaria KSeF")
        status = await get("/status")
        assert status["status"] == "FAILURE"
        [msg] = status["messages"]
        assert (msg["category"], msg["type"], msg["start"], msg["end"]) == ("FAILURE", "FAILURE_START",
                                                                         "2026-11-26T08:00:00+01:00", None)
        ksef_sim.latarnia("AVAILABLE", end="2026-11-26T12:00:00+01:00")
        assert (await get("/status"))["status"] == "AVAILABLE"
        messages = await get("/messages")
        assert [(m["type"], m["eventId"]) for m in messages] == [("FAILURE_START", 1), ("FAILURE_END", 1)]
        assert messages[1]["end"] == "2026-11-26T12:00:00+01:00"


async def test_fault_and_rate_limits_given_on_the_command_line(ksef_sim_factory, tmp_path):
    limits = tmp_path / "limits.json"
    limits.write_text('{"other": {"perSecond": 1, "perMinute": 1, "perHour": 1}}')
    sim = ksef_sim_factory("--fault", "security/public-key-certificates=500:1:1", "--rate-limits", str(limits))
    async with KsefTestClient(sim.api_url, checker=ContractChecker(sim.api_url)) as client:
        assert (await client.request("GET", "/security/public-key-certificates", bearer=None)).status == 500
        await client.authenticate(SIM_NIP, SIM_TOKEN)
        assert (await client.request("GET", "/rate-limits")).json()["other"]["perMinute"] == 1
        assert (await client.request("GET", "/rate-limits")).status == 429


async def test_state_survives_a_crash_and_a_restart(ksef_sim_factory, tmp_path):
    sim = ksef_sim_factory(state_dir=tmp_path / "state")
    async with KsefTestClient(sim.api_url, checker=ContractChecker(sim.api_url)) as client:
        await client.authenticate(SIM_NIP, SIM_TOKEN)
        session, crypto = await client.open_online()
        first = await client.send_invoice(session, crypto, template_invoice(1))
        accepted = await client.wait_invoice(session, first)
        sim.settings(processing_delay_s=30)            # the next one is still in flight when we crash
        second = await client.send_invoice(session, crypto, template_invoice(2))
        key_ids = [c["publicKeyId"] for c in await client.certificates()]
        sim.restart(kill=True)
        client.api_base = sim.api_url
        client.checker = ContractChecker(sim.api_url)
        client._certs = None
        assert [c["publicKeyId"] for c in await client.certificates()] == key_ids
        assert (await client.invoice_status(session, first))["ksefNumber"] == accepted["ksefNumber"]
        assert (await client.wait_invoice(session, second))["status"]["code"] == 200
        resent = await client.send_invoice(session, crypto, template_invoice(1))
        assert (await client.wait_invoice(session, resent))["status"]["code"] == 440
    assert sorted(i["invoiceNumber"] for i in sim.invoices()) == ["FA/GRQMB-1/05/2025", "FA/GRQMB-2/05/2025"]
