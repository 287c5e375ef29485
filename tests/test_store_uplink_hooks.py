"""Outbox operations the uplink needs: a technical correction's own file, moved deadlines, bulk batches."""
from __future__ import annotations

import datetime as dt
import hashlib

import pytest

from ksef_edge.store import InvalidTransitionError, InvoiceState, OutboxStore
from uplink_fixtures import issue_invoices


@pytest.fixture
async def store(tmp_path):
    s = await OutboxStore.open(tmp_path / "outbox.db")
    yield s
    await s.close()


async def _rejected(store: OutboxStore, signer) -> int:
    [inv] = await issue_invoices(store, signer, 1, prefix="BAD", broken=True)
    await store.mark_sending(inv, "20260302-SO-0000000001-0000000001-01")
    await store.mark_rejected(inv, "430", "Błąd weryfikacji pliku faktury")
    return inv


async def test_a_technical_correction_keeps_the_original_bytes_and_stores_its_own(store, ec_signer):
    inv = await _rejected(store, ec_signer)
    before = await store.get(inv)
    original_xml = await store.get_xml(inv)
    fixed = original_xml.replace(b"<P_2_BROKEN>", b"<P_2>").replace(b"</P_2_BROKEN>", b"</P_2>")
    rec = await store.record_correction(inv, xml=fixed, ksef_number="5265877635-20260302-0100001AF629-AF",
                                        upo=b"<Potwierdzenie/>", session_ref="20260302-SO-2", invoice_ref="20260302-EE-3",
                                        kod1_url="https://qr-test.ksef.mf.gov.pl/invoice/x", kod2_url="https://k2")
    assert rec.state is InvoiceState.CONFIRMED and rec.ksef_number == "5265877635-20260302-0100001AF629-AF"
    assert rec.upo == b"<Potwierdzenie/>" and rec.ksef_session_ref == "20260302-SO-2"
    # the till's printed bytes, hash and QR codes stay as they were
    assert await store.get_xml(inv) == original_xml
    assert (rec.sha256, rec.kod1_url, rec.kod2_url) == (before.sha256, before.kod1_url, before.kod2_url)
    tc = await store.technical_correction(inv)
    assert tc is not None and tc.xml == fixed and tc.sha256 == hashlib.sha256(fixed).digest() != before.sha256
    assert (tc.kod1_url, tc.kod2_url, tc.reject_code) == ("https://qr-test.ksef.mf.gov.pl/invoice/x", "https://k2", "430")
    # a second correction (or one of a non-rejected invoice) is refused, and nothing changes
    with pytest.raises(InvalidTransitionError, match="only a 'rejected' invoice"):
        await store.record_correction(inv, xml=fixed + b" ", ksef_number="5265877635-20260302-0100001AF629-AF",
                                      upo=b"<u/>", session_ref="s", invoice_ref="i")
    assert (await store.technical_correction(inv)).xml == fixed


async def test_an_identical_file_is_not_a_correction(store, ec_signer):
    inv = await _rejected(store, ec_signer)
    with pytest.raises(InvalidTransitionError, match="byte-identical"):
        await store.record_correction(inv, xml=await store.get_xml(inv), ksef_number="5265877635-20260302-0100001AF629-AF",
                                      upo=b"<u/>", session_ref="s", invoice_ref="i")
    assert (await store.get(inv)).state is InvoiceState.REJECTED and await store.technical_correction(inv) is None


async def test_a_moved_deadline_is_stored_and_reorders_the_upload_queue(store, ec_signer):
    early, late = await issue_invoices(store, ec_signer, 2)
    assert [r.id for r in await store.list_for_upload(10)] == [early, late]
    first = (await store.get(early)).deadline
    assert await store.set_deadline(early, first + dt.timedelta(days=30)) is True
    assert (await store.get(early)).deadline == first + dt.timedelta(days=30)
    assert [r.id for r in await store.list_for_upload(10)] == [late, early]
    assert await store.set_deadline(early, first + dt.timedelta(days=30)) is False  # unchanged: no write
    await store.mark_sending(late, "s")
    await store.mark_accepted(late, "5265877635-20260302-0100001AF629-AF")
    assert await store.set_deadline(late, first) is False  # KSeF holds it: no deadline to move


async def test_bulk_marks_are_all_or_nothing(store, ec_signer):
    ids = await issue_invoices(store, ec_signer, 4)
    await store.mark_sending(ids[3], "other")
    await store.mark_accepted(ids[3], "5265877635-20260302-0100001AF629-AF")
    with pytest.raises(InvalidTransitionError, match="none of the 4 changed"):
        await store.mark_sending_many(ids, "20260302-SB-1")
    assert (await store.counts_by_state())["issued"] == 3
    await store.mark_sending_many(ids[:3], "20260302-SB-1")
    assert {r.ksef_session_ref for r in await store.list_oldest_first(state=InvoiceState.SENDING)} == {"20260302-SB-1"}
    await store.mark_accepted_many([(i, f"5265877635-20260302-01000{i:07d}-00") for i in ids[:3]])
    await store.mark_confirmed_many([(i, b"<upo/>") for i in ids[:3]])
    assert (await store.counts_by_state())["confirmed"] == 3


async def test_a_10000_invoice_backlog_is_listed_for_upload_in_one_page_quickly(tmp_path):
    import sqlite3
    import time

    path = tmp_path / "backlog.db"
    await (await OutboxStore.open(path)).close()  # create the schema
    con = sqlite3.connect(path)
    now = "2026-03-02T08:00:00.000000+00:00"
    con.executemany(
        "INSERT INTO invoices (series, seq, number, xml, sha256, issue_date, created_at, offline_mode, deadline, "
        "idempotency_key, request_hash, updated_at) VALUES ('FV', ?, ?, ?, ?, '2026-03-02', ?, 'offline24', ?, ?, 'h', ?)",
        [(n, f"FV/{n}", b"<x/>", hashlib.sha256(str(n).encode()).digest(), now,
          f"2026-03-{3 + n % 20:02d}", f"k{n}", now) for n in range(1, 10_001)])
    con.commit()
    con.close()
    s = await OutboxStore.open(path)
    try:
        t = time.monotonic()
        page = await s.list_for_upload(10_000)
        elapsed = time.monotonic() - t
    finally:
        await s.close()
    assert len(page) == 10_000 and all(r.xml == b"<x/>" for r in page)
    assert [r.deadline for r in page] == sorted(r.deadline for r in page)  # most urgent first
    assert elapsed < 3.0, f"list_for_upload took {elapsed:.1f}s for a 10 000 backlog"
