"""The outbox on a real SQLite file: numbering, idempotency, clock floor, migrations, transitions."""
from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import sqlite3

import pytest

from ksef_edge.store import (
    ClockBehindError,
    IdempotencyConflictError,
    InvalidTransitionError,
    InvoiceState,
    MigrationError,
    NewInvoice,
    OutboxStore,
    PrintState,
    SchemaTooNewError,
)
from ksef_edge.store.migrations import MIGRATIONS, Migration

T0 = dt.datetime(2026, 2, 2, 9, 0, tzinfo=dt.timezone.utc)


def builder(series: str):
    def build(seq: int, created_at: dt.datetime) -> NewInvoice:
        number = f"{series}/{seq:06}"
        xml = f"<Faktura><P_2>{number}</P_2><Czas>{created_at.isoformat()}</Czas></Faktura>".encode()
        return NewInvoice(
            number=number,
            xml=xml,
            sha256=hashlib.sha256(xml).digest(),
            issue_date=created_at.date(),
            kod1_url="https://qr-test.ksef.mf.gov.pl/invoice/x",
            kod2_url="https://qr-test.ksef.mf.gov.pl/certificate/x",
            cert_serial="01F20A5D352AE590",
            offline_mode="offline24",
            deadline=created_at.date() + dt.timedelta(days=1),
        )

    return build


async def issue(store: OutboxStore, key: str, *, at: dt.datetime = T0, body: str = "h", series: str = "FV/A"):
    return await store.issue(
        series=series, created_at=at, idempotency_key=key, request_hash=body, build=builder(series)
    )


@pytest.fixture
async def store(tmp_path):
    s = await OutboxStore.open(tmp_path / "outbox.sqlite3")
    yield s
    await s.close()


async def test_database_is_wal_with_full_sync_and_current_schema(tmp_path, store):
    con = sqlite3.connect(tmp_path / "outbox.sqlite3")
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert con.execute("PRAGMA user_version").fetchone()[0] == MIGRATIONS[-1].version
    con.close()


async def test_concurrent_issuance_yields_gapless_distinct_numbers(store):
    results = await asyncio.gather(*(issue(store, f"k{i}") for i in range(100)))
    numbers = sorted(r.seq for r, created in results)
    assert numbers == list(range(1, 101))
    assert all(created for _, created in results)


async def test_series_are_numbered_independently(store):
    (a, _), (b, _), (c, _) = [await issue(store, k, series=s) for k, s in (("1", "FV/A"), ("2", "FV/B"), ("3", "FV/A"))]
    assert (a.seq, b.seq, c.seq) == (1, 1, 2)


async def test_same_key_returns_original_and_different_body_conflicts(store):
    first, created = await issue(store, "key-1", body="h1")
    again, created_again = await issue(store, "key-1", body="h1")
    assert created and not created_again
    assert again.id == first.id and again.number == first.number
    assert await store.get_xml(again.id) == await store.get_xml(first.id)
    with pytest.raises(IdempotencyConflictError, match="different request"):
        await issue(store, "key-1", body="h2")
    assert (await store.counts_by_state())["issued"] == 1


async def test_failed_build_stores_nothing_and_burns_no_number(store):
    def broken(seq: int, created_at: dt.datetime) -> NewInvoice:
        raise ValueError("boom")

    await issue(store, "a")
    with pytest.raises(ValueError):
        await store.issue(series="FV/A", created_at=T0, idempotency_key="b", request_hash="h", build=broken)
    nxt, _ = await issue(store, "c")
    assert nxt.seq == 2
    assert await store.find_by_idempotency_key("b") is None


async def test_clock_behind_floor_is_refused(store):
    await issue(store, "a", at=T0)
    with pytest.raises(ClockBehindError, match="behind the last issued invoice"):
        await issue(store, "b", at=T0 - dt.timedelta(hours=1))
    assert await store.clock_floor() == T0
    later, _ = await issue(store, "c", at=T0 + dt.timedelta(seconds=1))
    assert later.seq == 2


async def test_clock_within_tolerance_is_clamped_to_floor(store):
    await issue(store, "a", at=T0)
    rec, _ = await store.issue(
        series="FV/A", created_at=T0 - dt.timedelta(seconds=1), idempotency_key="b", request_hash="h",
        build=builder("FV/A"), floor_tolerance_s=2,
    )
    assert rec.created_at == T0


async def test_state_transitions_follow_the_lifecycle(store):
    rec, _ = await issue(store, "a")
    with pytest.raises(InvalidTransitionError, match="only from 'sending'"):
        await store.mark_accepted(rec.id, "5265877635-20250826-0100001AF629-AF")
    await store.mark_sending(rec.id, "20250826-SE-0000000000-0000000000-00", "INV-REF")
    await store.mark_accepted(rec.id, "5265877635-20250826-0100001AF629-AF")
    await store.mark_confirmed(rec.id, b"<UPO/>")
    got = await store.get(rec.id)
    assert got.state is InvoiceState.CONFIRMED and got.upo == b"<UPO/>"
    assert got.ksef_number == "5265877635-20250826-0100001AF629-AF"
    with pytest.raises(InvalidTransitionError):
        await store.mark_sending(rec.id, "S2")


async def test_rejection_and_upload_order_by_deadline(store):
    late, _ = await issue(store, "late", at=T0)
    await store.mark_sending(late.id, "S")
    await store.mark_rejected(late.id, "450", "Błąd weryfikacji semantyki")
    assert (await store.get(late.id)).reject_code == "450"
    b, _ = await issue(store, "b", at=T0 + dt.timedelta(days=3))
    c, _ = await issue(store, "c", at=T0 + dt.timedelta(days=4))
    todo = await store.list_for_upload(10)
    assert [r.id for r in todo] == [b.id, c.id]
    assert todo[0].xml and hashlib.sha256(todo[0].xml).digest() == todo[0].sha256
    assert await store.nearest_deadline() == (T0 + dt.timedelta(days=1)).date()


async def test_print_state_and_crash_recovery_requeues_interrupted_print(tmp_path):
    path = tmp_path / "o.sqlite3"
    s = await OutboxStore.open(path)
    rec, _ = await issue(s, "a")
    await s.set_print_state(rec.id, PrintState.PRINTING)
    await s.close()
    s = await OutboxStore.open(path)
    assert (await s.get(rec.id)).print_state is PrintState.PENDING
    await s.close()


async def test_failed_migration_leaves_previous_version_intact(tmp_path):
    path = tmp_path / "o.sqlite3"
    s = await OutboxStore.open(path)
    await issue(s, "a")
    await s.close()
    bad = MIGRATIONS + (
        Migration(
            MIGRATIONS[-1].version + 1,
            "half-broken",
            ("ALTER TABLE invoices ADD COLUMN note TEXT", "CREATE TABLE oops (x INT) STRICT", "SELECT * FROM missing"),
        ),
    )
    with pytest.raises(MigrationError, match=f"stays at v{MIGRATIONS[-1].version}"):
        await OutboxStore.open(path, migrations=bad)
    con = sqlite3.connect(path)
    assert con.execute("PRAGMA user_version").fetchone()[0] == MIGRATIONS[-1].version
    cols = [r[1] for r in con.execute("PRAGMA table_info(invoices)")]
    assert "note" not in cols
    assert con.execute("SELECT name FROM sqlite_master WHERE name='oops'").fetchone() is None
    con.close()
    s = await OutboxStore.open(path)  # the current release still opens it
    assert (await s.counts_by_state())["issued"] == 1
    await s.close()


async def test_newer_schema_is_refused(tmp_path):
    path = tmp_path / "o.sqlite3"
    await (await OutboxStore.open(path)).close()
    con = sqlite3.connect(path)
    con.execute("PRAGMA user_version = 99")
    con.commit()
    con.close()
    with pytest.raises(SchemaTooNewError, match="v99"):
        await OutboxStore.open(path)
