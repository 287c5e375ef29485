"""Recovering from faults without starting over: a batch close whose answer was lost is repeated in
place (not the whole batch after `lost_grace_s`), and KSeF's published rate limits are adopted as soon
as KSeF answers after being down at start-up (not an hour later). Real ksef-sim on 127.0.0.1."""
from __future__ import annotations

import asyncio
import time

import pytest

from ksef_edge.ksef.uplink import UplinkConfig
from ksef_edge.store import OutboxStore
from test_uplink_upo_retry import _uplink
from uplink_fixtures import issue_invoices, wait_drained

# lost_grace_s long enough that a batch redone from scratch could not finish inside the wait below
CONFIG = UplinkConfig(poll_interval_s=0.1, idle_wait_s=0.2, lost_grace_s=8.0, backoff_base_s=0.1,
                      backoff_max_s=0.5, online_idle_close_s=0.5, batch_threshold=30)


@pytest.mark.parametrize("fault", ["500", "reset", "timeout@1.2", "drop"])
async def test_a_batch_close_without_an_answer_is_repeated_not_the_whole_batch(sim, tmp_path, ec_signer, fault):
    db = tmp_path / "outbox.db"
    issuer = await OutboxStore.open(db)
    await issue_invoices(issuer, ec_signer, 40)
    uplink, calls, store, close = await _uplink(sim, db, CONFIG)
    try:
        await sim.admin("POST", "/admin/faults", {"rule": f"POST sessions/batch/*/close={fault}:1:1"})
        uplink.start()
        counts = await wait_drained(store, 6.0)                 # well inside lost_grace_s
        assert counts["confirmed"] == 40, (counts, uplink.status.last_error)
        assert calls.by_path["POST /v2/sessions/batch"] == 1, calls.by_path
        assert len(await sim.invoices()) == 40
    finally:
        await close()
        await issuer.close()


async def test_published_rate_limits_are_adopted_once_ksef_answers_after_a_down_start(sim, tmp_path, ec_signer):
    db = tmp_path / "outbox.db"
    uplink, calls, store, close = await _uplink(sim, db, CONFIG)
    try:
        await sim.admin("POST", "/admin/down", {"mode": "503"})
        uplink.start()
        await asyncio.sleep(1.0)
        await sim.admin("POST", "/admin/up")
        end = time.monotonic() + 10
        while uplink.client.pacer.limits["sessionInvoiceList"].per_minute != 2000 and time.monotonic() < end:
            await asyncio.sleep(0.1)
        # the sim publishes production x100 (uplink_fixtures "fast"); production is 20 lists a minute
        assert uplink.client.pacer.limits["sessionInvoiceList"].per_minute == 2000, calls.by_path
    finally:
        await close()
