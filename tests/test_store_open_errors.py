"""A database file the daemon cannot use is refused at start with its path and the fix, and left
untouched (the read-only filesystem case needs root: tests/reliability/test_rel_resources.py)."""
from __future__ import annotations

import os
import sqlite3

import pytest

from ksef_edge.store import IntegrityCheckError, OutboxStore, StoreError


async def test_a_file_that_is_not_a_database_is_refused_naming_it_and_the_restore(tmp_path):
    db = tmp_path / "outbox.sqlite3"
    db.write_bytes(b"a wrongly restored spreadsheet " * 200)
    before = db.read_bytes()
    with pytest.raises(IntegrityCheckError) as err:
        await OutboxStore.open(db)
    message = str(err.value)
    assert str(db) in message and "not an SQLite database" in message and "ksef-edge backup restore" in message
    assert db.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["outbox.sqlite3"]  # no -wal/-shm left behind


async def test_a_damaged_database_is_refused_naming_it_and_the_restore(tmp_path):
    db = tmp_path / "outbox.sqlite3"
    store = await OutboxStore.open(db)
    await store.close()
    con = sqlite3.connect(db)
    con.execute("PRAGMA journal_mode = DELETE")
    con.close()
    raw = bytearray(db.read_bytes())
    raw[0:16] = b"\x00" * 16  # the header is gone: SQLite calls it "not a database"
    db.write_bytes(bytes(raw))
    with pytest.raises(StoreError) as err:
        await OutboxStore.open(db)
    assert str(db) in str(err.value) and "restore" in str(err.value)


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores file permissions")
async def test_a_read_only_database_file_is_refused_naming_the_chmod(tmp_path):
    db = tmp_path / "outbox.sqlite3"
    store = await OutboxStore.open(db)
    await store.close()
    db.chmod(0o400)
    with pytest.raises(StoreError) as err:
        await OutboxStore.open(db)
    assert str(db) in str(err.value) and "chmod 600" in str(err.value)
