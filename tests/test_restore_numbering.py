"""Losing a till reuses no number (issue #25): back up at #200, issue #201-250, lose the device,
restore the backup on a new one. The new device starts a new series, the invoices the old one had
sent are taken back from KSeF (ksef-sim) with their exact bytes, the restored backlog KSeF already
has is resolved by the metadata query, and a backup of another seller or till is refused."""
from __future__ import annotations

import asyncio
import base64
import hashlib
import re
import sqlite3
from pathlib import Path

import pytest

from archive_helpers import PASSPHRASE, cli_inproc, passphrase_file
from daemon_fixtures import (
    VALID_BODY,
    MemorySigner,
    write_dev_keystore,
    write_device_config,
)
from ksef_edge.archive import create_backup
from ksef_edge.config import load_config
from ksef_edge.issuing.invoice_issuer import InvoiceIssuer
from ksef_edge.issuing.invoice_request import (
    canonical_json,
    parse_invoice_request,
    request_hash,
)
from ksef_edge.keystore.token_store import store_token
from ksef_edge.ksef.runner import open_uplink
from ksef_edge.store import OutboxStore
from uplink_fixtures import CONTEXT, FAST, TOKEN, wait_drained


def _device(dir: Path, sim, *, pos: str = "KASA1"):
    """A device directory: config for the simulator, the KSeF token in its keystore."""
    dir.mkdir(parents=True, exist_ok=True)
    files = write_device_config(dir, keystore_toml=write_dev_keystore(dir), pos=pos,
                                ksef_toml=f'environment = "simulator"\napi_base_url = "{sim.env.api_base}"')
    config = load_config(files.config)
    store_token(config.keystore, TOKEN)
    return files, config


async def _issue(config, store: OutboxStore, n: int, tag: str) -> list[str]:
    """`n` invoices through the device's real issuer (numbering, FA(3), signature); their numbers."""
    issuer = InvoiceIssuer(config, MemorySigner(), store)
    canonical = canonical_json(VALID_BODY)
    numbers = []
    for i in range(n):
        result = await issuer.issue(parse_invoice_request(VALID_BODY), idempotency_key=f"{tag}-{i}",
                                    request_hash=request_hash(canonical), request_json=canonical)
        numbers.append(result.record.number)
    return numbers


async def _drain(db: Path, sim) -> dict[str, int]:
    uplink, close = await open_uplink(db, sim.env, context=CONTEXT, token_provider=lambda: TOKEN,
                                      config=FAST, timeout_s=10)
    uplink.start()
    try:
        return await wait_drained(uplink.store, 120)
    finally:
        await uplink.stop()
        await close()


def _rows(db: Path, sql: str) -> list[tuple]:
    con = sqlite3.connect(db)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


@pytest.mark.timeout(300)
async def test_restored_old_backup_never_reissues_a_number_and_recovers_what_was_sent(tmp_path, sim, capsys):
    old_files, old_cfg = _device(tmp_path / "old-pi", sim)
    old = await OutboxStore.open(old_files.db)
    sent_early = await _issue(old_cfg, old, 190, "a")
    assert (await _drain(old_files.db, sim))["confirmed"] == 190
    unsent_at_backup = await _issue(old_cfg, old, 10, "b")  # #191-200: in the backup as not yet sent
    usb = tmp_path / "usb"
    backup = create_backup(old_files.db, usb, PASSPHRASE)
    assert backup.facts.invoices == 200 and backup.facts.unsent == 10
    sent_late = await _issue(old_cfg, old, 25, "c")  # #201-225: sent to KSeF after the backup
    assert (await _drain(old_files.db, sim))["confirmed"] == 225
    paper_only = await _issue(old_cfg, old, 25, "d")  # #226-250: printed receipts, never sent
    old_bytes = {n: bytes(x) for n, x in _rows(old_files.db, "SELECT number, xml FROM invoices")}
    await old.close()  # ... and the SD card dies
    old_numbers = sent_early + unsent_at_backup + sent_late + paper_only
    assert old_numbers[199].endswith("/000200") and old_numbers[249].endswith("/000250")

    new_files, new_cfg = _device(tmp_path / "new-pi", sim)
    pf = passphrase_file(tmp_path)
    restored = cli_inproc(capsys, "migrate-in", str(backup.path), "--config", str(new_files.config),
                          "--passphrase-file", str(pf))
    assert restored.returncode == 0, restored.stderr
    series = old_numbers[0].rsplit("/", 1)[0] + "/#"
    assert f"series {series}: last number in the file 200 (closed on this device)" in restored.stdout
    assert re.search(r"the next invoice number is FV/KASA1-R2/\d{4}/\d{2}/000001", restored.stdout), restored.stdout

    # the command runs its own event loop: off this test's loop
    recovered = await asyncio.to_thread(cli_inproc, capsys, "recover", "--config", str(new_files.config))
    assert recovered.returncode == 0, recovered.stderr
    assert "marked accepted without uploading again: 10" in recovered.stdout, recovered.stdout
    assert "(sent by the lost device after the backup): 25" in recovered.stdout, recovered.stdout
    assert "(1 metadata query)" in recovered.stdout  # 235 listed: one page, not one lookup each
    # what the old device had sent is back on the device, byte for byte as KSeF holds it
    in_ksef = {i["invoiceNumber"]: i for i in await sim.invoices() if i.get("ksefNumber")}
    rec = {n: (bytes(x), k) for n, x, k in _rows(new_files.db, "SELECT number, xml, ksef_number FROM recovered_invoices")}
    assert sorted(rec) == sorted(sent_late)
    for number, (xml, ksef_number) in rec.items():
        assert xml == old_bytes[number]
        assert ksef_number == in_ksef[number]["ksefNumber"]
        assert base64.b64encode(hashlib.sha256(xml).digest()).decode() == in_ksef[number]["invoiceHash"]
    # the backlog the old device had sent after the backup is resolved, not uploaded again
    states = dict(_rows(new_files.db, "SELECT number, state FROM invoices WHERE seq > 190 AND series = "
                                      f"'{series}'"))
    assert set(states.values()) == {"accepted"} and sorted(states) == sorted(unsent_at_backup)

    new = await OutboxStore.open(new_files.db)
    try:
        assert new.incarnation == 2
        fresh = await _issue(new_cfg, new, 30, "e")
    finally:
        await new.close()
    assert not set(fresh) & set(old_numbers)
    assert fresh[0].startswith("FV/KASA1-R2/") and fresh[0].endswith("/000001")
    counts = await _drain(new_files.db, sim)
    assert counts["confirmed"] == 190 + 30 and counts["rejected"] == 0, counts
    # KSeF holds every number once; nothing the new device issued collided with the old one's
    listed = [i["invoiceNumber"] for i in await sim.invoices() if i.get("ksefNumber")]
    assert len(listed) == len(set(listed)) == 225 + 30


async def test_backup_of_another_till_or_seller_is_refused_unless_intended(tmp_path, sim, capsys):
    other_till, till_cfg = _device(tmp_path / "kasa2", sim, pos="KASA2")
    store = await OutboxStore.open(other_till.db)
    await _issue(till_cfg, store, 2, "k2")
    await store.close()
    kasa2_backup = create_backup(other_till.db, tmp_path / "usb", PASSPHRASE)

    me, _ = _device(tmp_path / "kasa1", sim)
    pf = passphrase_file(tmp_path)
    for command in (("backup", "restore"), ("migrate-in",)):
        refused = cli_inproc(capsys, *command, str(kasa2_backup.path), "--config", str(me.config),
                             "--passphrase-file", str(pf))
        assert refused.returncode == 1 and "is not this device's backup" in refused.stderr, refused
        assert "KASA2" in refused.stderr and "--other-device" in refused.stderr
        assert not me.db.exists()  # nothing installed
    accepted = cli_inproc(capsys, "migrate-in", str(kasa2_backup.path), "--config", str(me.config),
                          "--passphrase-file", str(pf), "--other-device")
    assert accepted.returncode == 0, accepted.stderr
    assert "WARNING: accepted with --other-device" in accepted.stdout
    assert "FV/KASA1-R2/" in accepted.stdout  # and still a new series: no number of KASA2's reused

    # another seller: same till name, other NIP in the invoices
    foreign_dir = tmp_path / "foreign"
    foreign, foreign_cfg = _device(foreign_dir, sim)
    text = foreign.config.read_text().replace('nip = "5265877635"', 'nip = "6808208874"')
    foreign.config.write_text(text)
    foreign_cfg = load_config(foreign.config)
    store = await OutboxStore.open(foreign.db)
    await _issue(foreign_cfg, store, 1, "f")
    await store.close()
    foreign_backup = create_backup(foreign.db, tmp_path / "usb2", PASSPHRASE)
    other, _ = _device(tmp_path / "mine", sim)
    refused = cli_inproc(capsys, "backup", "restore", str(foreign_backup.path), "--config", str(other.config),
                         "--passphrase-file", str(pf))
    assert refused.returncode == 1 and "NIP 6808208874" in refused.stderr and "NIP 5265877635" in refused.stderr


async def test_migrate_out_file_of_this_device_keeps_the_series(tmp_path, sim, capsys):
    """A planned move sealed by migrate-out is exact: the series continues, no incarnation."""
    old, cfg = _device(tmp_path / "old", sim)
    store = await OutboxStore.open(old.db)
    await _issue(cfg, store, 3, "m")
    await store.close()
    pf = passphrase_file(tmp_path)
    out = cli_inproc(capsys, "migrate-out", str(tmp_path / "move.kebak"), "--config", str(old.config),
                     "--passphrase-file", str(pf))
    assert out.returncode == 0, out.stderr
    new, new_cfg = _device(tmp_path / "new", sim)
    inn = cli_inproc(capsys, "migrate-in", str(tmp_path / "move.kebak"), "--config", str(new.config),
                     "--passphrase-file", str(pf))
    assert inn.returncode == 0, inn.stderr
    store = await OutboxStore.open(new.db)
    try:
        assert store.incarnation == 1
        nxt = (await _issue(new_cfg, store, 1, "n"))[0]
    finally:
        await store.close()
    assert nxt.startswith("FV/KASA1/") and nxt.endswith("/000004")


async def test_daemon_resolves_a_restored_backlog_in_bulk_before_uploading(tmp_path, sim, capsys):
    """Started on a restored outbox, the daemon first asks KSeF (one metadata query) what it already
    holds: the backlog the lost device had sent is marked accepted, never uploaded a second time."""
    from ksef_edge.service import Daemon

    old_files, old_cfg = _device(tmp_path / "old", sim)
    old = await OutboxStore.open(old_files.db)
    await _issue(old_cfg, old, 12, "x")
    backup = create_backup(old_files.db, tmp_path / "usb", PASSPHRASE)  # 12 unsent in the backup
    await old.close()
    assert (await _drain(old_files.db, sim))["confirmed"] == 12  # ... then the old device sent them

    new_files, _ = _device(tmp_path / "new", sim)
    restored = cli_inproc(capsys, "backup", "restore", str(backup.path), "--config", str(new_files.config),
                          "--passphrase-file", str(passphrase_file(tmp_path)))
    assert restored.returncode == 0, restored.stderr
    text = new_files.config.read_text().replace('uplink = "off"', 'uplink = "auto"')
    new_files.config.write_text(text)
    daemon = Daemon(load_config(new_files.config), signer=MemorySigner())
    await daemon.start()
    try:
        for _ in range(200):
            states = {s for (s,) in _rows(new_files.db, "SELECT state FROM invoices")}
            if states == {"accepted"}:
                break
            await asyncio.sleep(0.1)
    finally:
        await daemon.stop()
    assert states == {"accepted"}
    listed = await sim.invoices()
    assert len(listed) == 12 and {i["submissions"] for i in listed} == {1}  # none uploaded again
    assert _rows(new_files.db, "SELECT COUNT(*) FROM numbering_incarnations WHERE recovered_at IS NULL") == [(0,)]
