"""Chaos uplink: a backlog (quick ~1 000, long 10 000 invoices) through ksef-sim with every fault kind
on (500/503, TCP reset, timeout, slow answer, "drop" = commit then no answer; together >= 10 % of all
calls, measured), KSeF down for a stretch (503, then connection resets), and a failure ("awaria")
announced in Latarnia that covers the upload deadline of invoices issued days ago.

Outcome a user relies on: every invoice is in KSeF exactly once (counted by hash in the simulator),
each with a KSeF number and a checked UPO, and none arrived after its deadline as recomputed from
the announcement (art. 106nf: 7 working days after the failure ends).
"""
from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import re
import time
from collections import Counter
from zoneinfo import ZoneInfo

import aiohttp
from harness import request

from ksef_edge.domain.deadlines import OfflineMode, upload_deadline
from ksef_edge.domain.fa3 import validate_upo
from ksef_edge.ksef.availability import Availability
from ksef_edge.ksef.client import KsefClient
from ksef_edge.ksef.pacer import Pacer
from ksef_edge.ksef.uplink import Uplink, UplinkConfig
from ksef_edge.ksef.uplink_clock import SystemClock
from ksef_edge.store import OutboxStore
from uplink_fixtures import CONTEXT, TOKEN, issue_invoices, start_sim, wait_drained, warsaw_today

WARSAW = ZoneInfo("Europe/Warsaw")
FAULT_KINDS = ["500", "503", "reset", "timeout@1.2", "slow@0.3", "drop"]
FAULT_P = 0.02  # per kind; 1 - 0.98**6 = 11.4 % of calls
CHAOS = UplinkConfig(poll_interval_s=0.2, idle_wait_s=0.3, lost_grace_s=3.0, backoff_base_s=0.05, backoff_max_s=0.3,
                     online_idle_close_s=1.0, latarnia_interval_s=0.5, status_interval_s=0.5)


def admin(sim, method: str, path: str, body: dict | None = None) -> dict:
    status, raw = request(method, sim.base + path, body=body, timeout=30)
    assert status < 300, (path, status, raw[:300])
    return json.loads(raw) if raw else {}


async def test_backlog_through_faults_outage_and_failure_lands_once_within_deadlines(tmp_path, ec_signer, scale):
    n = int(os.environ.get("CHAOS_N", scale.chaos_invoices))
    backdated_n = n // 5
    sim = start_sim(tmp_path, "--processing-delay", "0.01", "--log-level", "INFO")
    db = tmp_path / "outbox.db"
    store = await OutboxStore.open(db)
    calls: Counter[str] = Counter()

    async def on_start(session, ctx, params):  # every HTTP call the uplink makes
        calls["all"] += 1
        calls[f"{params.method} " + re.sub(r"/[0-9]{8}-[A-Z0-9-]+", "/{ref}", params.url.path)] += 1

    trace = aiohttp.TraceConfig()
    trace.on_request_start.append(on_start)
    http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2.0), trace_configs=[trace])
    clock = SystemClock()
    client = KsefClient(sim.env, context=CONTEXT, token_provider=lambda: TOKEN, clock=clock,
                        pacer=Pacer(clock=clock), timeout_s=2.0, http=http)
    uplink = Uplink(store, client, config=CHAOS, clock=clock, availability=Availability())
    try:
        # invoices issued four days ago: their offline24 deadline has passed unless the failure moves it
        today = warsaw_today()
        old_day = today - dt.timedelta(days=4)
        old_ids = await issue_invoices(store, ec_signer, backdated_n, prefix="OLD", issue_date=old_day)
        new_ids = await issue_invoices(store, ec_signer, n - backdated_n, prefix="NEW")
        stored_deadline = upload_deadline(OfflineMode.OFFLINE24, old_day)
        assert stored_deadline < today, "backdated invoices must start out overdue without the announcement"

        failure_start = dt.datetime.combine(old_day, dt.time(8), tzinfo=WARSAW).isoformat()
        admin(sim, "POST", "/admin/latarnia", {"status": "FAILURE", "start": failure_start})
        admin(sim, "POST", "/admin/down", {"mode": "503"})
        for kind in FAULT_KINDS:
            admin(sim, "POST", "/admin/faults", {"rule": f"*={kind}:{FAULT_P}"})

        started = time.monotonic()
        uplink.start()
        await asyncio.sleep(2.0)                                   # KSeF answers 503 ...
        admin(sim, "POST", "/admin/down", {"mode": "reset"})
        await asyncio.sleep(2.0)                                   # ... then resets connections
        admin(sim, "POST", "/admin/up")
        await asyncio.sleep(scale.pick(3.0, 20.0))                 # the failure ends while uploading
        admin(sim, "POST", "/admin/latarnia", {"status": "AVAILABLE"})
        counts = await wait_drained(store, scale.pick(240, 6 * 3600))
        elapsed = time.monotonic() - started
        assert counts["confirmed"] == n, (counts, uplink.status.last_error)
        status = await uplink.refresh_status(force=True)
    finally:
        await uplink.stop()
        await client.close()
        await http.close()
    try:
        # every invoice in KSeF exactly once, numbers and UPOs checked
        in_ksef = admin(sim, "GET", "/admin/invoices")["invoices"]
        per_hash = Counter(i["invoiceHash"] for i in in_ksef)
        acquired = {i["invoiceHash"]: i["acquisitionDate"] for i in in_ksef}
        failure_end = None
        for msg in json.loads(request("GET", sim.base + "/latarnia/messages")[1]):
            if msg["type"] == "FAILURE_END":
                failure_end = dt.datetime.fromisoformat(msg["end"]).astimezone(WARSAW).date()
        assert failure_end == today
        late = []
        for invoice_id in old_ids + new_ids:
            rec = await store.get(invoice_id)
            import base64
            h = base64.b64encode(rec.sha256).decode()
            assert per_hash[h] == 1, f"{rec.number} is in KSeF {per_hash[h]} times"
            assert rec.ksef_number and rec.upo and h.encode() in rec.upo
            # the deadline recomputed from the announcement (failure covering the stored deadline)
            deadline = rec.deadline
            if rec.deadline is not None and dt.datetime.fromisoformat(failure_start).date() <= rec.deadline \
                    and failure_end >= rec.issue_date:
                deadline = upload_deadline(OfflineMode.OFFLINE24, rec.issue_date, failure_ends=[failure_end])
            arrived = dt.datetime.fromisoformat(acquired[h]).astimezone(WARSAW).date()
            if deadline is not None and arrived > deadline:
                late.append((rec.number, arrived, deadline))
        assert len(per_hash) == n and not late, late[:5]
        validate_upo((await store.get(old_ids[0])).upo)
        # no false alarm: an invoice the announcement protects is not "overdue"
        overdue = [a for a in status.alarms if a.level in ("overdue", "rejected")]
        assert not overdue, overdue[:5]
        # faults really fired on >= 10 % of the calls
        sim.stop()
        fired = len(re.findall(r" fault \S+ on ", sim.log_path.read_text(errors="replace")))
        assert calls["all"] > n / 500 and fired / calls["all"] >= 0.10, (fired, calls)
    finally:
        sim.stop()
        await store.close()
    print(f"chaos: {n} invoices ({backdated_n} backdated) in {elapsed:.1f}s, {calls['all']} calls, "
          f"{fired} faults ({fired / calls['all']:.1%}); calls {dict(calls.most_common(8))}")
