"""Corrections issued while KSeF is down and before their originals were sent drain in the right order.

Real parts: the daemon's API (in process, real SQLite) issues invoices and corrections; the real uplink
(`ksef.runner.open_uplink`, own store connections, as the service runs it) uploads them to a real
`ksef-sim` subprocess, which refuses a correction whose original has no KSeF number yet (status 450).
"""
from __future__ import annotations

import asyncio
import base64
from collections import Counter

import aiohttp

from daemon_fixtures import VALID_BODY, in_process_daemon
from ksef_edge.ksef.runner import open_uplink
from ksef_edge.ksef.uplink import UplinkConfig
from ksef_edge.store import InvoiceState
from uplink_fixtures import CONTEXT, TOKEN, start_sim, wait_drained

FAST = UplinkConfig(poll_interval_s=0.1, idle_wait_s=0.2, lost_grace_s=3.0, backoff_base_s=0.1,
                    backoff_max_s=0.5, online_idle_close_s=0.5)


async def post(http, d, path, body, key):
    async with http.post(d.base_url + path, json=body, headers={**d.auth, "Idempotency-Key": key}) as r:
        assert r.status == 201, await r.text()
        return await r.json()


async def test_corrections_issued_offline_reach_ksef_after_their_originals_each_once(tmp_path):
    sim = start_sim(tmp_path)
    try:
        await sim.admin("POST", "/admin/down", {"mode": "503"})
        async with in_process_daemon(tmp_path / "device") as d, aiohttp.ClientSession() as http:
            a = await post(http, d, "/v1/invoices", VALID_BODY, "a")
            b = await post(http, d, "/v1/invoices", VALID_BODY, "b")
            kors = [
                await post(http, d, f"/v1/invoices/{a['id']}/corrections", {"reason": "Zwrot towaru", "refund_method": "cash",
                           "changes": [{"line_no": 1, "returned_quantity": "1"}]}, "ka1"),
                await post(http, d, f"/v1/invoices/{b['id']}/corrections", {"reason": "Zwrot towaru", "refund_method": "card",
                           "full_return": True}, "kb"),
                await post(http, d, f"/v1/invoices/{a['id']}/corrections", {"reason": "Błędna cena", "refund_method": "cash",
                           "changes": [{"line_no": 2, "new_unit_price": "8.99"}]}, "ka2"),
            ]
            store = d.daemon.store
            # the uplink only ever sees the originals while they have no KSeF number
            assert [r.id for r in await store.list_for_upload(100)] == [a["id"], b["id"]]
            uplink, close = await open_uplink(d.files.db, sim.env, context=CONTEXT, token_provider=lambda: TOKEN,
                                              config=FAST, timeout_s=5)
            uplink.start()
            try:
                await asyncio.sleep(1.0)  # KSeF down: it tries, nothing moves
                assert (await store.counts_by_state())["issued"] == 5
                await sim.admin("POST", "/admin/up")
                counts = await wait_drained(store, 60)
                assert counts["confirmed"] == 5, (counts, sim.log_path.read_text()[-2000:])
            finally:
                await uplink.stop()
                await close()
            in_sim = await sim.invoices()
            by_hash = {i["invoiceHash"]: i for i in in_sim}
            assert all(i["count"] == 1 and i["submissions"] == 1 for i in in_sim)  # each sent once, accepted once
            assert Counter(i["invoiceNumber"].split("/")[0] for i in in_sim) == {"FV": 2, "KOR": 3}
            for kor in kors:
                rec = await store.get(kor["id"])
                original = await store.get(rec.corrects_id)
                assert rec.state is InvoiceState.CONFIRMED and original.state is InvoiceState.CONFIRMED
                mine, theirs = (by_hash[base64.b64encode(r.sha256).decode()] for r in (rec, original))
                # the simulator numbers and timestamps acceptance: the original went first
                assert theirs["acquisitionDate"] <= mine["acquisitionDate"]
                assert rec.ksef_number != original.ksef_number
                xml = await store.get_xml(rec.id)
                assert b"<NrKSeFN>1</NrKSeFN>" in xml  # the bytes printed at the till, uploaded unchanged
    finally:
        sim.stop()
