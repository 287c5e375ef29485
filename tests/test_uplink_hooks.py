"""The uplink against a real ksef-sim: big batch sessions, deadlines moved by Latarnia are stored."""
from __future__ import annotations

import datetime as dt

from ksef_edge.ksef.runner import open_uplink
from ksef_edge.ksef.uplink_clock import VirtualClock
from ksef_edge.store import OutboxStore
from uplink_fixtures import CONTEXT, FAST, TOKEN, issue_invoices, wait_drained

WARSAW = dt.timezone(dt.timedelta(hours=2))


async def test_a_backlog_beyond_500_goes_in_one_batch_session(sim, tmp_path, ec_signer):
    db = tmp_path / "outbox.db"
    issuer = await OutboxStore.open(db)
    ids = await issue_invoices(issuer, ec_signer, 620)
    accepted: list[int] = []

    async def on_accepted(invoice_id: int, ksef_number: str) -> None:
        accepted.append(invoice_id)

    uplink, close = await open_uplink(db, sim.env, context=CONTEXT, token_provider=lambda: TOKEN, config=FAST,
                                      timeout_s=10, on_accepted=on_accepted)
    uplink.start()
    try:
        counts = await wait_drained(issuer, 90)
    finally:
        await uplink.stop()
        await close()
    assert counts["confirmed"] == 620, counts
    invoices = await sim.invoices()
    assert len({i["sessionReferenceNumber"] for i in invoices}) == 1  # one session, not 500 + 120
    assert all(i["count"] == 1 for i in invoices) and len(invoices) == 620
    assert sorted(accepted) == sorted(ids)  # the after-acceptance hook saw every invoice once
    await issuer.close()


async def test_a_deadline_moved_by_a_latarnia_failure_is_stored(sim, tmp_path, ec_signer):
    db = tmp_path / "outbox.db"
    issuer = await OutboxStore.open(db)
    [inv] = await issue_invoices(issuer, ec_signer, 1, issue_date=dt.date(2025, 7, 8))
    clock = VirtualClock(start=dt.datetime(2025, 7, 21, 12, 0, tzinfo=WARSAW))
    uplink, close = await open_uplink(db, sim.env, context=CONTEXT, token_provider=lambda: TOKEN,
                                      config=FAST, clock=clock)
    try:
        await sim.admin("POST", "/admin/latarnia", {"status": "FAILURE", "start": "2025-07-09T08:00:00+02:00"})
        await uplink.check_availability()
        await uplink.refresh_status(force=True)
        assert (await issuer.get(inv)).deadline == dt.date(2025, 7, 9)  # ongoing: end unknown, nothing stored yet
        await sim.admin("POST", "/admin/latarnia", {"status": "AVAILABLE", "end": "2025-07-12T18:00:00+02:00"})
        await uplink.check_availability()
        await uplink.refresh_status(force=True)
        assert (await issuer.get(inv)).deadline == dt.date(2025, 7, 22)  # the official example's date
        await sim.admin("POST", "/admin/latarnia", {"status": "TOTAL_FAILURE", "start": "2025-07-10T08:00:00+02:00"})
        await uplink.check_availability()
        status = await uplink.refresh_status(force=True)
        assert status.oldest_deadline is None  # no obligation now, but the stored date stays (conservative)
        assert (await issuer.get(inv)).deadline == dt.date(2025, 7, 22)
    finally:
        await close()
        await issuer.close()
