"""Encrypted online backups on real SQLite files: taken during issuance, restored, damaged, refused."""
from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import sqlite3
import struct

import pytest

from archive_helpers import PASSPHRASE, cli, cli_inproc, issue, passphrase_file
from ksef_edge.archive import (
    BackupCorruptError,
    RestoreRefusedError,
    WrongPassphraseError,
    backup_status,
    create_backup,
    last_good_backup,
    list_backups,
    restore_backup,
    verify_backup,
)
from ksef_edge.domain.fa3 import validate_fa3
from ksef_edge.domain.qr import sha256_b64url
from ksef_edge.store import OutboxStore


def _rows(db):
    con = sqlite3.connect(db)
    try:
        return con.execute("SELECT id, series, seq, xml, sha256, kod1_url FROM invoices ORDER BY id").fetchall()
    finally:
        con.close()


async def test_backup_taken_during_a_stream_of_issuance_is_a_consistent_restorable_outbox(tmp_path, device, ec_signer):
    db, backups = device.path, tmp_path / "usb"
    for _ in range(5):
        await issue(device, ec_signer)
    stop = asyncio.Event()

    async def till():  # the POS keeps issuing while backups run
        while not stop.is_set():
            await issue(device, ec_signer)

    stream = asyncio.create_task(till())
    taken = []
    for i in range(3):
        taken.append(await asyncio.to_thread(create_backup, db, backups, PASSPHRASE, keep=10))
        await asyncio.sleep(0.05)
    stop.set()
    await stream
    total = (await device.counts_by_state())["issued"]
    assert total > taken[0].facts.invoices  # issuance really ran during and after the backups
    assert [b.facts.invoices for b in taken] == sorted(b.facts.invoices for b in taken)

    for n, info in enumerate(taken):
        target = tmp_path / f"new-device-{n}" / "outbox.sqlite3"
        restore_backup(info.path, PASSPHRASE, target)
        restored = await OutboxStore.open(target)  # integrity check + migrations of the real store
        try:
            rows = _rows(target)
            k = info.facts.invoices
            # one commit's state: ids and numbers 1..k without gaps, nothing torn
            assert [r[0] for r in rows] == list(range(1, k + 1))
            assert [r[2] for r in rows] == list(range(1, k + 1))
            for _id, _series, _seq, xml, sha, kod1 in rows:
                assert hashlib.sha256(xml).digest() == bytes(sha)
                assert kod1.endswith("/" + sha256_b64url(xml))  # the printed KOD I still matches
            validate_fa3(bytes(rows[-1][3]))
            # the restored device continues the series
            new_id = await issue(restored, ec_signer)
            assert (await restored.get(new_id)).seq == k + 1
        finally:
            await restored.close()


async def test_keep_n_newest_backups(tmp_path, device, ec_signer):
    await issue(device, ec_signer)
    t0 = dt.datetime(2026, 3, 1, 2, 0, tzinfo=dt.timezone.utc)
    made = [create_backup(device.path, tmp_path / "usb", PASSPHRASE, keep=2, now=t0 + dt.timedelta(hours=h))
            for h in range(4)]
    listed = list_backups(tmp_path / "usb")
    assert [b.path for b in listed] == [made[3].path, made[2].path]
    assert last_good_backup(tmp_path / "usb").path == made[3].path
    assert not any(p.name.endswith(".tmp") for p in (tmp_path / "usb").iterdir())
    assert oct(made[3].path.stat().st_mode & 0o777) == "0o600"


async def test_backup_contains_no_plaintext_invoice_data(tmp_path, device, ec_signer):
    invoice_id = await issue(device, ec_signer)
    rec = await device.get(invoice_id)
    info = create_backup(device.path, tmp_path / "usb", PASSPHRASE)
    data = info.path.read_bytes()
    assert rec.number.encode() not in data and b"Kowalski" not in data and b"<Faktura" not in data


@pytest.fixture
async def one_backup(tmp_path, device, ec_signer):
    for _ in range(3):
        await issue(device, ec_signer)
    return create_backup(device.path, tmp_path / "usb", PASSPHRASE)


def _chunk_start(data: bytes) -> int:
    (hlen,) = struct.unpack(">I", data[16:20])
    return 20 + hlen


async def test_flipped_byte_is_detected_and_nothing_is_restored(tmp_path, one_backup):
    data = bytearray(one_backup.path.read_bytes())
    data[_chunk_start(bytes(data)) + 30] ^= 0x01
    one_backup.path.write_bytes(bytes(data))
    with pytest.raises(BackupCorruptError, match="corrupt or was tampered with"):
        verify_backup(one_backup.path, PASSPHRASE)
    target = tmp_path / "new" / "outbox.sqlite3"
    with pytest.raises(BackupCorruptError, match="do not restore it, use another backup"):
        restore_backup(one_backup.path, PASSPHRASE, target)
    assert not target.exists() and list(target.parent.iterdir()) == []


async def test_truncated_backup_is_detected(tmp_path, one_backup):
    data = one_backup.path.read_bytes()
    one_backup.path.write_bytes(data[:-7])
    with pytest.raises(BackupCorruptError, match="truncated"):
        verify_backup(one_backup.path, PASSPHRASE)


async def test_edited_header_metadata_is_detected(tmp_path, one_backup):
    data = one_backup.path.read_bytes()
    start = _chunk_start(data)
    header = json.loads(data[20:start])
    assert header["meta"]["invoices"] == 3
    forged = data[:20] + data[20:start].replace(b'"invoices":3', b'"invoices":9') + data[start:]
    one_backup.path.write_bytes(forged)
    with pytest.raises(BackupCorruptError, match="tampered"):
        verify_backup(one_backup.path, PASSPHRASE)


async def test_wrong_passphrase_is_named_as_such(tmp_path, one_backup):
    with pytest.raises(WrongPassphraseError, match="passphrase does not open") as err:
        verify_backup(one_backup.path, b"not the right passphrase")
    assert "not the right" not in str(err.value)


async def test_a_file_that_is_not_a_backup_is_named_as_such(tmp_path):
    other = tmp_path / "holiday.jpg"
    other.write_bytes(b"\xff\xd8\xff\xe0" + b"\0" * 100)
    with pytest.raises(BackupCorruptError, match="is not a ksef-edge backup"):
        verify_backup(other, PASSPHRASE)


async def test_restore_refuses_a_running_or_non_empty_outbox_and_force_keeps_the_old_one(tmp_path, device, ec_signer, one_backup):
    with pytest.raises(RestoreRefusedError, match="in use by a running process"):
        restore_backup(one_backup.path, PASSPHRASE, device.path)
    await issue(device, ec_signer)  # 4 invoices now, the backup has 3
    await device.close()
    with pytest.raises(RestoreRefusedError, match="already holds 4 invoice"):
        restore_backup(one_backup.path, PASSPHRASE, device.path)
    result = restore_backup(one_backup.path, PASSPHRASE, device.path, force=True)
    assert len(_rows(device.path)) == 3
    assert result.replaced is not None and len(_rows(result.replaced)) == 4  # nothing was deleted
    reopened = await OutboxStore.open(device.path)
    await reopened.close()


async def test_status_reports_age_and_alarms_on_unsent_invoices_newer_than_the_last_backup(tmp_path, device, ec_signer):
    usb = tmp_path / "usb"
    assert not backup_status(device.path, usb).alarm  # nothing issued, nothing at risk
    await issue(device, ec_signer)
    st = backup_status(device.path, usb)
    assert st.alarm and st.unprotected == 1 and st.last_backup_at is None and "no backup found" in st.message
    create_backup(device.path, usb, PASSPHRASE)
    st = backup_status(device.path, usb)
    assert not st.alarm and st.unprotected == 0 and 0 <= st.age_s < 60
    await issue(device, ec_signer)
    await issue(device, ec_signer)
    st = backup_status(device.path, usb)
    assert st.alarm and st.unprotected == 2 and "not in any backup" in st.message
    assert not backup_status(device.path, usb, grace_s=3600).alarm  # within the configured grace
    later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=2)
    assert backup_status(device.path, usb, grace_s=3600, now=later).alarm


def test_cli_create_list_verify_restore_and_clear_errors(tmp_path, capsys, monkeypatch, ec_signer):
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    run = lambda *a: cli_inproc(capsys, *a)  # noqa: E731
    db = tmp_path / "dev" / "outbox.sqlite3"

    async def prepare():
        store = await OutboxStore.open(db)
        await issue(store, ec_signer)
        await store.close()

    asyncio.run(prepare())
    pf = passphrase_file(tmp_path)
    usb = tmp_path / "usb"
    made = run("backup", "create", "--db", str(db), "--dir", str(usb), "--passphrase-file", str(pf), "--keep", "3")
    assert made.returncode == 0, made.stderr
    assert "1 invoices, 1 not yet in KSeF" in made.stdout
    listed = run("backup", "list", "--dir", str(usb))
    assert listed.returncode == 0 and "1 invoices, 1 unsent" in listed.stdout
    (file,) = usb.iterdir()
    ok = run("backup", "verify", str(file), "--passphrase-file", str(pf))
    assert ok.returncode == 0 and ok.stdout.startswith("OK:"), ok.stderr
    status = run("backup", "status", "--db", str(db), "--dir", str(usb))
    assert status.returncode == 0 and "unsent invoices not in any backup: 0" in status.stdout

    wrong = passphrase_file(tmp_path, b"a different long passphrase", name="wrong")
    bad = cli("backup", "verify", str(file), "--passphrase-file", str(wrong))
    assert bad.returncode == 1 and "passphrase does not open" in bad.stderr
    assert "Traceback" not in bad.stderr and "different long" not in bad.stderr + bad.stdout

    weak = passphrase_file(tmp_path, b"short", name="weak")
    refused = run("backup", "create", "--db", str(db), "--dir", str(usb), "--passphrase-file", str(weak))
    assert refused.returncode == 1 and "shorter than 12 characters" in refused.stderr

    exposed = passphrase_file(tmp_path, b"long enough passphrase here", name="exposed")
    exposed.chmod(0o644)
    refused = run("backup", "create", "--db", str(db), "--dir", str(usb), "--passphrase-file", str(exposed))
    assert refused.returncode == 1 and "chmod 600" in refused.stderr

    over = run("backup", "restore", str(file), "--db", str(db), "--passphrase-file", str(pf))
    assert over.returncode == 1 and "already holds 1 invoice" in over.stderr and "--force" in over.stderr
    fresh = tmp_path / "new" / "outbox.sqlite3"
    restored = run("backup", "restore", str(file), "--db", str(fresh), "--passphrase-file", str(pf))
    assert restored.returncode == 0, restored.stderr
    # a backup may be older than the device's last invoice: numbering goes on in new, tagged series
    assert "last number in the file 1 (closed on this device)" in restored.stdout
    assert "numbering incarnation 2" in restored.stdout and "-R2" in restored.stdout
    assert len(_rows(fresh)) == 1
    usage = run("backup", "create", "--db", str(db), "--passphrase-file", str(pf))
    assert usage.returncode == 2 and "--dir" in usage.stderr
