"""Issue #12: after `migrate-out` the old device's outbox is retired, on real SQLite files and the
real CLI: its daemon and selfcheck refuse it with one line saying what happened and what to do,
the store refuses to issue, and the outbox installed by `migrate-in` is not retired and continues
the series."""
from __future__ import annotations

import datetime as dt
import sqlite3
import subprocess

import pytest

from archive_helpers import KSEF_EDGE, issue, passphrase_file
from daemon_fixtures import write_dev_keystore, write_device_config
from ksef_edge.store import OutboxRetiredError, OutboxStore
from ksef_edge.store.retirement import EXIT_RETIRED, read_retirement, retire


def _device(dir):
    dir.mkdir(parents=True)
    return write_device_config(dir, keystore_toml=write_dev_keystore(dir))


def _ksef_edge(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([KSEF_EDGE, *args], capture_output=True, text=True, timeout=60)


async def _invoices(db) -> list[tuple[str, int]]:
    con = sqlite3.connect(db)
    try:
        return con.execute("SELECT series, seq FROM invoices ORDER BY id").fetchall()
    finally:
        con.close()


async def test_old_device_refuses_to_run_after_migrate_out_and_new_device_continues(tmp_path, ec_signer):
    old = _device(tmp_path / "old")
    store = await OutboxStore.open(old.db)
    await issue(store, ec_signer)
    await issue(store, ec_signer)
    await store.close()
    pf = passphrase_file(tmp_path)
    move = tmp_path / "usb" / "move.kebak"

    out = _ksef_edge("migrate-out", str(move), "--config", str(old.config), "--passphrase-file", str(pf))
    assert out.returncode == 0, out.stderr
    assert "retired" in out.stdout

    run = _ksef_edge("run", "--config", str(old.config))
    assert run.returncode == EXIT_RETIRED, run.stderr
    lines = [ln for ln in run.stderr.splitlines() if ln.startswith("ksef-edge:")]
    assert len(lines) == 1, run.stderr
    assert "moved to a new device with `ksef-edge migrate-out` on" in lines[0]
    assert str(move) in lines[0] and "must not issue" in lines[0] and "migrate-in" in lines[0]

    check = _ksef_edge("selfcheck", "--config", str(old.config))
    assert check.returncode == 1
    assert "FAIL store: this outbox was moved to a new device" in check.stdout
    assert "signer" not in check.stdout  # the one problem that matters, not a list

    with pytest.raises(OutboxRetiredError, match="re-provision"):
        await OutboxStore.open(old.db)  # the uplink and `ksef-edge correct` open it this way too
    assert await _invoices(old.db) == [("FV/KASA1", 1), ("FV/KASA1", 2)]

    new = _device(tmp_path / "new")
    inn = _ksef_edge("migrate-in", str(move), "--config", str(new.config), "--passphrase-file", str(pf))
    assert inn.returncode == 0, inn.stderr
    assert "next number 3" in inn.stdout
    con = sqlite3.connect(new.db)
    try:
        assert read_retirement(con) is None
    finally:
        con.close()
    check_new = _ksef_edge("selfcheck", "--config", str(new.config))
    assert check_new.returncode == 0, check_new.stdout
    store = await OutboxStore.open(new.db)
    try:
        rec = await store.get(await issue(store, ec_signer))
        assert (rec.series, rec.seq) == ("FV/KASA1", 3)
    finally:
        await store.close()


async def test_store_refuses_to_issue_on_a_retired_outbox_even_when_already_open(tmp_path, ec_signer):
    db = tmp_path / "outbox.sqlite3"
    store = await OutboxStore.open(db)
    try:
        await issue(store, ec_signer)
        con = sqlite3.connect(db, isolation_level=None)  # the marker appears under an open store
        try:
            retire(con, "/media/usb/move.kebak", dt.datetime(2026, 2, 3, 10, 0, tzinfo=dt.timezone.utc))
        finally:
            con.close()
        with pytest.raises(OutboxRetiredError, match=r"on 2026-02-03 10:00 UTC \(/media/usb/move.kebak\)"):
            await issue(store, ec_signer)
    finally:
        await store.close()
    assert await _invoices(db) == [("FV/KASA1", 1)]


async def test_migrate_in_of_a_retired_outbox_brings_it_back(tmp_path, ec_signer):
    """An outbox copied after retirement (e.g. a backup of the old device) is installed not retired."""
    from archive_helpers import PASSPHRASE
    from ksef_edge.archive import migrate_in, migrate_out

    db = tmp_path / "a" / "outbox.sqlite3"
    store = await OutboxStore.open(db)
    await issue(store, ec_signer)
    await store.close()
    migrate_out(db, tmp_path / "first.kebak", PASSPHRASE)
    again = migrate_out(db, tmp_path / "second.kebak", PASSPHRASE)  # its snapshot holds the marker
    back = tmp_path / "b" / "outbox.sqlite3"
    migrate_in(again.path, PASSPHRASE, back)
    store = await OutboxStore.open(back)
    try:
        rec = await store.get(await issue(store, ec_signer))
        assert rec.seq == 2
    finally:
        await store.close()
