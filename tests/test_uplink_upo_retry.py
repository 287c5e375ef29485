"""A failed UPO download concerns one invoice: the others of the step are confirmed, the failed one is
retried after its own backoff, and the session is not listed again (20/min, 200/h in production).
All against a real ksef-sim on 127.0.0.1 with injected storage faults."""
from __future__ import annotations

import asyncio
import re
import time
from collections import Counter

import aiohttp

from ksef_edge.ksef.client import KsefClient
from ksef_edge.ksef.pacer import Pacer
from ksef_edge.ksef.uplink import Uplink, UplinkConfig
from ksef_edge.ksef.uplink_clock import SystemClock
from ksef_edge.store import OutboxStore
from uplink_fixtures import CONTEXT, TOKEN, issue_invoices, wait_drained

CONFIG = UplinkConfig(poll_interval_s=0.1, idle_wait_s=0.2, lost_grace_s=3.0, backoff_base_s=0.2,
                      backoff_max_s=1.0, online_idle_close_s=0.5, batch_threshold=30)
LIST = "GET /v2/sessions/{ref}/invoices"
# A retry 2-4 s away can never fall inside the step that failed, however slow a loaded machine makes it.
SLOW_RETRY = UplinkConfig(poll_interval_s=0.1, idle_wait_s=0.2, lost_grace_s=3.0, backoff_base_s=4.0,
                          backoff_max_s=4.0, online_idle_close_s=0.5, batch_threshold=30)


class Calls:
    """Every HTTP request the uplink's client makes, by method and path (session refs folded)."""

    def __init__(self) -> None:
        self.by_path: Counter[str] = Counter()
        self.answered_200: Counter[str] = Counter()
        self.upo_by_invoice: Counter[str] = Counter()
        self.trace = aiohttp.TraceConfig()
        self.trace.on_request_start.append(self._on_start)
        self.trace.on_request_end.append(self._on_end)

    @staticmethod
    def _key(params) -> str:
        return f"{params.method} " + re.sub(r"/[0-9]{8}-[A-Z0-9-]+(?=/|$)", "/{ref}", params.url.path)

    async def _on_start(self, session, ctx, params) -> None:
        self.by_path[self._key(params)] += 1
        if params.url.path.startswith("/storage/upo/"):
            self.upo_by_invoice[params.url.path.rsplit("/", 1)[-1]] += 1

    async def _on_end(self, session, ctx, params) -> None:
        if params.response.status == 200:
            self.answered_200[self._key(params)] += 1


async def _uplink(sim, db, config: UplinkConfig = CONFIG) -> tuple[Uplink, Calls, OutboxStore, object]:
    calls = Calls()
    http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2.0), trace_configs=[calls.trace])
    clock = SystemClock()
    store = await OutboxStore.open(db)
    client = KsefClient(sim.env, context=CONTEXT, token_provider=lambda: TOKEN, clock=clock,
                        pacer=Pacer(clock=clock), timeout_s=2.0, http=http)
    uplink = Uplink(store, client, config=config, clock=clock)

    async def close() -> None:
        await uplink.stop()
        await client.close()
        await http.close()
        await store.close()

    return uplink, calls, store, close


async def _step_until(uplink: Uplink, store: OutboxStore, done, timeout_s: float = 15.0) -> dict[str, int]:
    """Run uplink steps (each must complete without raising) until `done(counts)`."""
    end = time.monotonic() + timeout_s
    while True:
        await uplink.step()
        counts = await store.counts_by_state()
        if done(counts) or time.monotonic() > end:
            return counts
        await asyncio.sleep(0.05)


async def test_one_failed_upo_download_leaves_only_that_invoice_pending_and_lists_the_session_once(
        sim, tmp_path, ec_signer):
    db = tmp_path / "outbox.db"
    issuer = await OutboxStore.open(db)
    await issue_invoices(issuer, ec_signer, 40)                      # a backlog: one batch session
    uplink, calls, store, close = await _uplink(sim, db, SLOW_RETRY)
    try:
        await sim.admin("POST", "/admin/faults", {"rule": "GET storage/upo/*=500:1:1"})  # the first UPO GET fails
        counts = await _step_until(uplink, store, lambda c: c["accepted"] + c["confirmed"] == 40)
        # the step that got the KSeF numbers confirmed every invoice but the one whose download failed
        assert counts["confirmed"] == 39 and counts["accepted"] == 1, counts
        counts = await _step_until(uplink, store, lambda c: c["confirmed"] == 40)
        assert counts["confirmed"] == 40, counts
        assert calls.by_path[LIST] == 1, calls.by_path       # the failed one used the URL it already had
        assert sum(calls.upo_by_invoice.values()) == 41 and max(calls.upo_by_invoice.values()) == 2
    finally:
        await close()
        await issuer.close()


async def test_upo_downloads_failing_for_a_while_back_off_per_invoice_without_relisting(sim, tmp_path, ec_signer):
    db = tmp_path / "outbox.db"
    issuer = await OutboxStore.open(db)
    ids = await issue_invoices(issuer, ec_signer, 40)
    uplink, calls, store, close = await _uplink(sim, db)
    try:
        await sim.admin("POST", "/admin/faults", {"rule": "GET storage/upo/*=503"})  # storage down
        uplink.start()
        deadline = time.monotonic() + 10
        while (await store.counts_by_state())["accepted"] < 40 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        await asyncio.sleep(3.0)                                    # 3 s of failing downloads
        attempts = max(calls.upo_by_invoice.values())
        await sim.admin("DELETE", "/admin/faults")
        counts = await wait_drained(store, 15)
        assert counts["confirmed"] == 40, (counts, uplink.status.last_error)
        # backoff 0.1-0.2, 0.2-0.4, 0.4-0.8, then 0.5-1.0 s: at most ~8 tries in 3 s (every poll would be 30)
        assert 3 <= attempts <= 10, calls.upo_by_invoice
        assert calls.by_path[LIST] == 1, calls.by_path
        assert len(calls.upo_by_invoice) == len(ids)
    finally:
        await close()
        await issuer.close()


async def test_an_expired_upo_url_is_replaced_by_one_fresh_session_list(sim, tmp_path, ec_signer):
    db = tmp_path / "outbox.db"
    issuer = await OutboxStore.open(db)
    await issue_invoices(issuer, ec_signer, 40)
    uplink, calls, store, close = await _uplink(sim, db)
    try:
        await sim.admin("POST", "/admin/faults", {"rule": "GET storage/upo/*=503"})
        counts = await _step_until(uplink, store, lambda c: c["accepted"] == 40)
        assert counts["accepted"] == 40, counts
        # KSeF's pre-signed URLs live 3 days: four days later the remembered ones are refused (403)
        await sim.admin("POST", "/admin/clock", {"advance_s": 4 * 86400})
        await sim.admin("DELETE", "/admin/faults")
        counts = await _step_until(uplink, store, lambda c: c["confirmed"] == 40)
        assert counts["confirmed"] == 40, (counts, uplink.status.last_error)
        # the first list, and one for fresh URLs (four days on, the access token is renewed on the way: a 401)
        assert calls.answered_200[LIST] == 2, (calls.answered_200, calls.by_path)
    finally:
        await close()
        await issuer.close()
