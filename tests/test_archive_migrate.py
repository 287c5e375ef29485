"""Device replacement on real files and the real ksef-sim: the new device continues the numbering
and uploads exactly what the old one had not."""
from __future__ import annotations

import base64
from collections import Counter

import pytest

from archive_helpers import PASSPHRASE, cli_inproc, issue, passphrase_file
from ksef_edge.archive import RestoreRefusedError, migrate_in, migrate_out
from ksef_edge.domain.fa3 import validate_upo
from ksef_edge.ksef.runner import open_uplink
from ksef_edge.store import InvoiceState, OutboxStore
from uplink_fixtures import CONTEXT, FAST, TOKEN, issue_invoices, wait_drained


async def _drain(db, sim, timeout_s: float = 30) -> dict[str, int]:
    uplink, close = await open_uplink(db, sim.env, context=CONTEXT, token_provider=lambda: TOKEN,
                                      config=FAST, timeout_s=5)
    uplink.start()
    try:
        return await wait_drained(uplink.store, timeout_s)
    finally:
        await uplink.stop()
        await close()


async def test_new_device_continues_numbering_and_uploads_the_backlog_exactly_once(tmp_path, sim, ec_signer):
    old_db = tmp_path / "old-pi" / "outbox.sqlite3"
    old = await OutboxStore.open(old_db)
    sent_before = await issue_invoices(old, ec_signer, 3)
    assert (await _drain(old_db, sim))["confirmed"] == 3
    backlog = await issue_invoices(old, ec_signer, 4)  # KSeF unreachable, then the SD card dies...
    numbers_old = [(await old.get(i)).number for i in sent_before + backlog]
    with pytest.raises(RestoreRefusedError, match="stop it first"):
        migrate_out(old_db, tmp_path / "usb" / "move.kebak", PASSPHRASE)  # daemon still running
    await old.close()

    moved = migrate_out(old_db, tmp_path / "usb" / "move.kebak", PASSPHRASE)
    assert moved.kind == "migration" and moved.facts.unsent == 4 and moved.facts.series == {"FV": 7}

    new_db = tmp_path / "new-pi" / "outbox.sqlite3"
    result = migrate_in(moved.path, PASSPHRASE, new_db)
    assert result.replaced is None
    counts = await _drain(new_db, sim)
    assert counts["confirmed"] == 7, counts

    new = await OutboxStore.open(new_db)
    try:
        per_hash = Counter(i["invoiceHash"] for i in await sim.invoices())
        for invoice_id in sent_before + backlog:
            rec = await new.get(invoice_id)
            assert rec.state is InvoiceState.CONFIRMED
            assert per_hash[base64.b64encode(rec.sha256).decode()] == 1, f"{rec.number} in KSeF {per_hash}"
            validate_upo(rec.upo)
        assert len(per_hash) == 7 and sum(per_hash.values()) == 7
        # the series continues on the new device: no gap, no repeat
        nxt = await new.get((await issue_invoices(new, ec_signer, 1))[0])
        assert nxt.seq == 8 and nxt.number not in numbers_old
    finally:
        await new.close()


async def test_migrate_in_refuses_an_outbox_with_invoices_unless_forced(tmp_path, ec_signer):
    old_db = tmp_path / "old" / "outbox.sqlite3"
    old = await OutboxStore.open(old_db)
    await issue(old, ec_signer)
    await old.close()
    moved = migrate_out(old_db, tmp_path / "move.kebak", PASSPHRASE)
    with pytest.raises(Exception, match="already exists"):
        migrate_out(old_db, tmp_path / "move.kebak", PASSPHRASE)

    busy_db = tmp_path / "new" / "outbox.sqlite3"
    busy = await OutboxStore.open(busy_db)
    await issue(busy, ec_signer, series="FV/NEW")  # someone already issued on the new device
    await busy.close()
    with pytest.raises(RestoreRefusedError, match="already holds 1 invoice"):
        migrate_in(moved.path, PASSPHRASE, busy_db)
    result = migrate_in(moved.path, PASSPHRASE, busy_db, force=True)
    assert result.replaced is not None and result.replaced.exists()


def test_cli_migrate_out_and_in(tmp_path, capsys, monkeypatch, ec_signer):
    import asyncio

    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    old_db = tmp_path / "old" / "outbox.sqlite3"

    async def prepare():
        store = await OutboxStore.open(old_db)
        await issue(store, ec_signer)
        await issue(store, ec_signer)
        await store.close()

    asyncio.run(prepare())
    pf = passphrase_file(tmp_path)
    out = cli_inproc(capsys, "migrate-out", str(tmp_path / "move.kebak"), "--db", str(old_db), "--passphrase-file", str(pf))
    assert out.returncode == 0, out.stderr
    assert "2 invoices, 2 not yet in KSeF" in out.stdout and "disable" in out.stdout
    new_db = tmp_path / "new" / "outbox.sqlite3"
    inn = cli_inproc(capsys, "migrate-in", str(tmp_path / "move.kebak"), "--db", str(new_db), "--passphrase-file", str(pf))
    assert inn.returncode == 0, inn.stderr
    assert "2 to be uploaded by this device" in inn.stdout and "next number 3" in inn.stdout
    again = cli_inproc(capsys, "migrate-in", str(tmp_path / "move.kebak"), "--db", str(new_db), "--passphrase-file", str(pf))
    assert again.returncode == 1 and "already holds 2 invoice" in again.stderr


async def test_restoring_a_backup_older_than_the_last_uploads_sends_nothing_twice(tmp_path, sim, ec_signer):
    """The disaster case: the newest backup predates uploads the dead device made. The new device
    re-offers those invoices; KSeF's duplicate check (440, same hash) settles them without a copy."""
    from ksef_edge.archive import create_backup, restore_backup

    old_db = tmp_path / "old-pi" / "outbox.sqlite3"
    old = await OutboxStore.open(old_db)
    ids = await issue_invoices(old, ec_signer, 3)
    backup = create_backup(old_db, tmp_path / "usb", PASSPHRASE)  # all 3 still unsent here
    await old.close()
    assert (await _drain(old_db, sim))["confirmed"] == 3  # uploaded after the backup; then the Pi dies

    new_db = tmp_path / "new-pi" / "outbox.sqlite3"
    restore_backup(backup.path, PASSPHRASE, new_db)
    counts = await _drain(new_db, sim)
    assert counts["issued"] == counts["sending"] == counts["accepted"] == 0, counts
    per_hash = Counter(i["invoiceHash"] for i in await sim.invoices())
    assert sorted(per_hash.values()) == [1, 1, 1]
    new = await OutboxStore.open(new_db)
    try:
        for invoice_id in ids:
            rec = await new.get(invoice_id)
            assert rec.state is InvoiceState.CONFIRMED, (rec.number, rec.state, rec.reject_reason)
            validate_upo(rec.upo)
    finally:
        await new.close()
