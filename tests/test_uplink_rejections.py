"""Rejections raise alarms and are fixed by a technical correction; Latarnia moves deadlines."""
from __future__ import annotations

import asyncio
import base64
import datetime as dt

import pytest

from ksef_edge.domain.deadlines import OfflineMode
from ksef_edge.domain.issuance import issue_document
from ksef_edge.domain.qr import QrEnvironment
from ksef_edge.ksef.runner import open_uplink
from ksef_edge.ksef.technical_correction import CorrectionError, correct_rejected_invoice
from ksef_edge.ksef.uplink_clock import VirtualClock
from ksef_edge.store import OutboxStore
from uplink_fixtures import CONTEXT, FAST, TOKEN, issue_invoices, wait_drained

WARSAW = dt.timezone(dt.timedelta(hours=2))


async def test_rejected_invoice_raises_alarm_then_technical_correction_is_accepted(sim, tmp_path, ec_signer):
    from domain_factories import SELLER, invoice, line

    db = tmp_path / "outbox.db"
    issuer = await OutboxStore.open(db)
    good = await issue_invoices(issuer, ec_signer, 2)
    [bad] = await issue_invoices(issuer, ec_signer, 1, prefix="BAD", broken=True)
    uplink, close = await open_uplink(db, sim.env, context=CONTEXT, token_provider=lambda: TOKEN,
                                      config=FAST, timeout_s=5)
    uplink.start()
    try:
        counts = await wait_drained(issuer, 30)
        assert counts["confirmed"] == 2 and counts["rejected"] == 1, counts
        rec = await issuer.get(bad)
        assert rec.reject_code and rec.reject_reason  # KSeF's own reason is kept for the shop owner
        status = await uplink.refresh_status(force=True)
        [alarm] = [a for a in status.alarms if a.level == "rejected"]
        assert alarm.invoice_id == bad and rec.reject_code in alarm.detail
        assert uplink.metrics.registry.get_sample_value("ksef_edge_uplink_deadline_alarms", {"level": "rejected"}) == 1

        # the till re-generates the same invoice (same number, date, lines): new file, new hash, new QR codes
        fixed = issue_document(invoice(line(price="1.99"), number=rec.number, issue_date=rec.issue_date,
                                       created_at=dt.datetime.now(dt.UTC), seller=SELLER),
                               ec_signer, env=QrEnvironment.TEST, mode=OfflineMode.OFFLINE24)
        result = await correct_rejected_invoice(uplink.store, uplink.client, bad, fixed.xml)
        assert result.corrected_sha256_b64 == fixed.sha256_b64
        in_ksef = {i["invoiceHash"]: i for i in await sim.invoices()}
        corrected = in_ksef[fixed.sha256_b64]
        assert corrected["ksefNumber"] == result.ksef_number
        assert corrected["hashOfCorrectedInvoice"] == base64.b64encode(rec.sha256).decode()
        assert fixed.sha256_b64.encode() in result.upo
        assert base64.b64encode(rec.sha256).decode() not in in_ksef  # the broken file never got in

        with pytest.raises(CorrectionError):  # only rejected invoices can be corrected
            await correct_rejected_invoice(uplink.store, uplink.client, good[0], fixed.xml)
    finally:
        await uplink.stop()
        await close()
        await issuer.close()


async def test_latarnia_failure_extends_the_deadline_as_in_the_official_example(sim, tmp_path, ec_signer):
    """ksef-docs worked example: issued Wed 2025-07-08 (offline24, deadline Thu 07-09); a failure
    announced 07-09 ends Sat 07-12 -> deadline Tue 2025-07-22."""
    db = tmp_path / "outbox.db"
    issuer = await OutboxStore.open(db)
    [inv] = await issue_invoices(issuer, ec_signer, 1, issue_date=dt.date(2025, 7, 8))
    assert (await issuer.get(inv)).deadline == dt.date(2025, 7, 9)
    clock = VirtualClock(start=dt.datetime(2025, 7, 21, 12, 0, tzinfo=WARSAW))
    uplink, close = await open_uplink(db, sim.env, context=CONTEXT, token_provider=lambda: TOKEN,
                                      config=FAST, clock=clock)
    try:
        await uplink.check_availability()
        status = await uplink.refresh_status(force=True)
        assert status.oldest_deadline == dt.date(2025, 7, 9)
        assert [a.level for a in status.alarms] == ["overdue"]  # without the announcement: too late

        await sim.admin("POST", "/admin/latarnia", {"status": "FAILURE", "start": "2025-07-09T08:00:00+02:00"})
        await uplink.check_availability()
        status = await uplink.refresh_status(force=True)
        assert status.ksef_availability == "FAILURE"
        assert status.alarms == ()  # failure ongoing: the deadline runs from its end, not yet known

        await sim.admin("POST", "/admin/latarnia", {"status": "AVAILABLE", "end": "2025-07-12T18:00:00+02:00"})
        await uplink.check_availability()
        status = await uplink.refresh_status(force=True)
        assert status.oldest_deadline == dt.date(2025, 7, 22)
        assert [a.level for a in status.alarms] == ["at_risk"] or status.alarms == ()
        clock._t += 2 * 86400  # Thursday 07-23: now it is overdue again
        status = await uplink.refresh_status(force=True)
        assert [a.level for a in status.alarms] == ["overdue"]

        await sim.admin("POST", "/admin/latarnia", {"status": "TOTAL_FAILURE", "start": "2025-07-10T08:00:00+02:00"})
        await uplink.check_availability()
        status = await uplink.refresh_status(force=True)
        assert status.oldest_deadline is None and status.alarms == ()  # total failure: no obligation
    finally:
        await close()
        await issuer.close()


async def test_technical_correction_accepted_while_its_upo_cannot_be_fetched_is_recorded_accepted(
        sim, tmp_path, ec_signer):
    """Issue #17: KSeF's acceptance is recorded at once; the UPO (of the corrected file) follows via the uplink."""
    from domain_factories import SELLER, invoice, line

    db = tmp_path / "outbox.db"
    issuer = await OutboxStore.open(db)
    [bad] = await issue_invoices(issuer, ec_signer, 1, prefix="BAD", broken=True)
    uplink, close = await open_uplink(db, sim.env, context=CONTEXT, token_provider=lambda: TOKEN,
                                      config=FAST, timeout_s=5)
    uplink.start()
    try:
        counts = await wait_drained(issuer, 30)
        assert counts["rejected"] == 1, counts
        rec = await issuer.get(bad)
        fixed = issue_document(invoice(line(price="1.99"), number=rec.number, issue_date=rec.issue_date,
                                       created_at=dt.datetime.now(dt.UTC), seller=SELLER),
                               ec_signer, env=QrEnvironment.TEST, mode=OfflineMode.OFFLINE24)
        for rule in ("GET storage/upo/*=503", "GET sessions/*/upo=503", "GET sessions/*/upo/*=503"):
            await sim.admin("POST", "/admin/faults", {"rule": rule})
        result = await correct_rejected_invoice(uplink.store, uplink.client, bad, fixed.xml)
        assert result.upo is None and result.ksef_number
        now = await issuer.get(bad)
        assert now.state.value == "accepted" and now.ksef_number == result.ksef_number  # not left 'rejected'
        tc = await issuer.technical_correction(bad)
        assert tc is not None and tc.upo is None and tc.sha256 == fixed.sha256

        await sim.admin("DELETE", "/admin/faults")
        uplink.notify()
        for _ in range(200):
            if (await issuer.get(bad)).state.value == "confirmed":
                break
            await asyncio.sleep(0.1)
        done = await issuer.get(bad)
        assert done.state.value == "confirmed", done.state
        tc = await issuer.technical_correction(bad)
        assert tc is not None and tc.upo is not None and fixed.sha256_b64.encode() in tc.upo
        assert rec.sha256 != fixed.sha256 and base64.b64encode(rec.sha256) not in tc.upo
    finally:
        await uplink.stop()
        await close()
        await issuer.close()
