"""The uplink against the real ksef-sim over loopback: trickle, backlog after an outage, UPOs."""
from __future__ import annotations

import base64
from collections import Counter

from ksef_edge.domain.fa3 import validate_upo
from ksef_edge.domain.ksef_number import validate_ksef_number
from ksef_edge.ksef.runner import open_uplink
from ksef_edge.store import InvoiceState, OutboxStore
from uplink_fixtures import CONTEXT, FAST, TOKEN, issue_invoices, wait_drained


async def _assert_all_in_ksef_once(store: OutboxStore, sim, ids: list[int]) -> None:
    in_sim = await sim.invoices()
    per_hash = Counter(i["invoiceHash"] for i in in_sim)
    for invoice_id in ids:
        rec = await store.get(invoice_id)
        h = base64.b64encode(rec.sha256).decode()
        assert rec.state is InvoiceState.CONFIRMED, (rec.number, rec.state, rec.reject_reason)
        assert per_hash[h] == 1, f"{rec.number} is in KSeF {per_hash[h]} times"
        validate_ksef_number(rec.ksef_number)
        validate_upo(rec.upo)
        assert h.encode() in rec.upo and rec.ksef_number.encode() in rec.upo


async def test_trickle_sends_few_invoices_in_an_online_session_with_upos(sim, tmp_path, ec_signer):
    db = tmp_path / "outbox.db"
    issuer = await OutboxStore.open(db)
    ids = await issue_invoices(issuer, ec_signer, 5)
    uplink, close = await open_uplink(db, sim.env, context=CONTEXT, token_provider=lambda: TOKEN,
                                      config=FAST, timeout_s=5)
    uplink.start()
    try:
        counts = await wait_drained(issuer, 30)
        assert counts["confirmed"] == 5, counts
        await _assert_all_in_ksef_once(issuer, sim, ids)
        status = await uplink.refresh_status(force=True)
        assert status.queue["confirmed"] == 5 and status.last_success is not None
        assert {i["invoicingMode"] for i in await sim.invoices()} == {"Offline"}
    finally:
        await uplink.stop()
        await close()
        await issuer.close()


async def test_500_invoices_issued_while_ksef_is_down_all_land_once_after_it_returns(sim, tmp_path, ec_signer):
    db = tmp_path / "outbox.db"
    issuer = await OutboxStore.open(db)
    await sim.admin("POST", "/admin/down", {"mode": "503"})
    uplink, close = await open_uplink(db, sim.env, context=CONTEXT, token_provider=lambda: TOKEN,
                                      config=FAST, timeout_s=5)
    uplink.start()
    try:
        ids = await issue_invoices(issuer, ec_signer, 500)
        status = await uplink.refresh_status(force=True)
        assert status.queue["issued"] == 500
        assert status.last_error is not None  # it has been trying, and says why it cannot
        await sim.admin("POST", "/admin/up")
        counts = await wait_drained(issuer, 90)
        assert counts["confirmed"] == 500, counts
        await _assert_all_in_ksef_once(issuer, sim, ids)
        status = await uplink.refresh_status(force=True)
        assert status.alarms == () and status.oldest_deadline is None
    finally:
        await uplink.stop()
        await close()
        await issuer.close()
