"""The outbox side of corrections on a real SQLite file: migration v1 -> v2, the KOR series, the upload gate.

The upload order is compared with the pure rule it implements (`domain.correction_ordering.upload_order`).
"""
from __future__ import annotations

import datetime as dt
import hashlib
import sqlite3

import pytest

from ksef_edge.domain.kor_ordering import QueuedDocument, upload_order
from ksef_edge.store import CorrectionContext, NewInvoice, NotFoundError, OutboxStore
from ksef_edge.store.migrations import MIGRATIONS

T0 = dt.datetime(2026, 2, 2, 9, 0, tzinfo=dt.timezone.utc)
DAY = dt.date(2026, 2, 2)


def new(number: str, deadline: dt.date | None, *, kor: bool = False) -> NewInvoice:
    xml = f"<Faktura><P_2>{number}</P_2></Faktura>".encode()
    return NewInvoice(number=number, xml=xml, sha256=hashlib.sha256(xml).digest(), issue_date=DAY, kod1_url="k1",
                      kod2_url="k2", cert_serial="01", offline_mode="offline24", deadline=deadline,
                      kind="KOR" if kor else "VAT", correction_request_json='{"x":1}' if kor else None)


async def invoice(store, key, deadline, minute=0):
    rec, _ = await store.issue(series="FV/#", created_at=T0 + dt.timedelta(minutes=minute), idempotency_key=key,
                               request_hash=key, build=lambda seq, ts: new(f"FV/{seq}", deadline), request_json="{}")
    return rec


async def correction(store, original_id, key, deadline, minute=0, seen=None):
    def build(seq: int, ts: dt.datetime, ctx: CorrectionContext) -> NewInvoice:
        if seen is not None:
            seen.append(ctx)
        return new(f"KOR/{seq}", deadline, kor=True)

    rec, _ = await store.issue_correction(original_id, series="KOR/#", created_at=T0 + dt.timedelta(minutes=minute),
                                          idempotency_key=key, request_hash=key, build=build)
    return rec


@pytest.fixture
async def store(tmp_path):
    s = await OutboxStore.open(tmp_path / "outbox.sqlite3")
    yield s
    await s.close()


async def test_a_v1_database_migrates_with_its_invoices_as_vat(tmp_path):
    path = tmp_path / "o.sqlite3"
    old = await OutboxStore.open(path, migrations=MIGRATIONS[:1])  # a device still on the first release
    await old.close()
    con = sqlite3.connect(path)
    con.execute(  # a row as release 1 wrote it (its code knew only these columns)
        "INSERT INTO invoices (series, seq, number, xml, sha256, issue_date, created_at, offline_mode, "
        "idempotency_key, request_hash, updated_at) VALUES ('FV/#', 1, 'FV/1', x'3c612f3e', ?, '2026-02-02', ?, "
        "'offline24', 'a', 'a', ?)", (hashlib.sha256(b"<a/>").digest(), T0.isoformat(), T0.isoformat()))
    con.commit()
    con.close()
    s = await OutboxStore.open(path)
    try:
        assert s.schema_version == MIGRATIONS[-1].version >= 2
        [again] = await s.list_oldest_first()
        assert (again.kind, again.corrects_id, again.number) == ("VAT", None, "FV/1")
        kor = await correction(s, again.id, "k", DAY, minute=1)
        assert (kor.kind, kor.corrects_id, kor.number, kor.seq) == ("KOR", again.id, "KOR/1", 1)
    finally:
        await s.close()
    con = sqlite3.connect(path)
    try:
        assert con.execute("SELECT kind, correction_request_json FROM invoices ORDER BY id").fetchall() == [
            ("VAT", None), ("KOR", '{"x":1}')]
    finally:
        con.close()


async def test_corrections_see_earlier_ones_and_failures_use_no_number(store):
    rec = await invoice(store, "a", DAY)
    seen: list[CorrectionContext] = []
    await correction(store, rec.id, "k1", DAY, seen=seen)
    with pytest.raises(ValueError, match="too much"):
        await store.issue_correction(rec.id, series="KOR/#", created_at=T0, idempotency_key="bad", request_hash="x",
                                     build=lambda seq, ts, ctx: (_ for _ in ()).throw(ValueError("too much")))
    with pytest.raises(NotFoundError):
        await correction(store, 999, "k404", DAY)
    second = await correction(store, rec.id, "k2", DAY, seen=seen)
    assert second.number == "KOR/2"  # gapless: the refused ones took nothing
    assert [c.prior_requests for c in seen] == [(), ('{"x":1}',)]
    assert seen[0].original.xml is not None and seen[0].original_request_json == "{}"
    assert [r.id for r in await store.corrections_of(rec.id)] == [second.id - 1, second.id]


async def test_upload_gate_holds_corrections_and_pulls_their_originals_forward(store):
    far = DAY + dt.timedelta(days=30)  # e.g. an original issued under a failure-mode deadline
    a = await invoice(store, "a", DAY + dt.timedelta(days=5))
    b = await invoice(store, "b", far)
    c = await invoice(store, "c", None)  # total failure: no deadline
    kb = await correction(store, b.id, "kb", DAY + dt.timedelta(days=1))
    kc = await correction(store, c.id, "kc", DAY + dt.timedelta(days=2))

    async def order():
        return [r.id for r in await store.list_for_upload(100)]

    def pure(states):
        queued = [QueuedDocument(r.id, r.deadline, r.corrects_id) for r in (a, b, c, kb, kc)
                  if states.get(r.id, "issued") == "issued"]
        return upload_order(queued, {x.id: states.get(x.id, "issued") for x in (a, b, c)})

    assert await order() == [b.id, c.id, a.id] == pure({})  # b and c are due when their corrections are
    assert [k.id for k, _ in await store.blocked_corrections()] == [kb.id, kc.id]
    await store.mark_sending(b.id, "s")
    assert await order() == [c.id, a.id] == pure({b.id: "sending"})  # a correction waits while the original is in flight
    await store.mark_accepted(b.id, "5265877635-20260202-0100806C1E7A-00")
    assert await order() == [kb.id, c.id, a.id] == pure({b.id: "accepted"})
    await store.mark_sending(c.id, "s")
    await store.mark_rejected(c.id, "450", "semantics")
    assert await order() == [kb.id, a.id]  # behind a rejected original: held (and alarmed in /v1/status)
    assert [(k.id, o.state.value) for k, o in await store.blocked_corrections()] == [(kc.id, "rejected")]
