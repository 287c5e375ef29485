"""Store migrations v3 (technical corrections) and v4 (archive_exports, formerly created ad hoc)."""
from __future__ import annotations

import sqlite3

from ksef_edge.archive import prune_archived
from ksef_edge.store import OutboxStore
from ksef_edge.store.migrations import MIGRATIONS
from uplink_fixtures import issue_invoices

OLD_LEDGER = """CREATE TABLE IF NOT EXISTS archive_exports (invoice_id INTEGER PRIMARY KEY, number TEXT NOT NULL,
sha256 BLOB NOT NULL, with_upo INTEGER NOT NULL CHECK (with_upo IN (0, 1)), exported_at TEXT NOT NULL,
destination TEXT NOT NULL, pruned_at TEXT) STRICT"""


async def _v2_outbox_with_an_ad_hoc_ledger(path, signer) -> int:
    store = await OutboxStore.open(path, migrations=MIGRATIONS[:2])
    [inv] = await issue_invoices(store, signer, 1)
    await store.close()
    con = sqlite3.connect(path)
    con.execute(OLD_LEDGER)  # what archive/ledger.py did before migration v4
    con.execute("INSERT INTO archive_exports VALUES (?, 'FV/000001', zeroblob(32), 1, '2026-01-01', '/media/x', NULL)",
                (inv,))
    con.commit()
    con.close()
    return inv


def _version_and_marks(path) -> tuple[int, int, set[str]]:
    con = sqlite3.connect(path)
    try:
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        return (con.execute("PRAGMA user_version").fetchone()[0],
                con.execute("SELECT COUNT(*) FROM archive_exports").fetchone()[0], tables)
    finally:
        con.close()


async def test_the_daemon_migrates_an_old_outbox_and_keeps_its_export_records(tmp_path, ec_signer):
    path = tmp_path / "outbox.sqlite3"
    await _v2_outbox_with_an_ad_hoc_ledger(path, ec_signer)
    store = await OutboxStore.open(path)
    assert store.schema_version == MIGRATIONS[-1].version >= 4
    await store.close()
    version, marks, tables = _version_and_marks(path)
    assert marks == 1 and {"technical_corrections", "archive_exports"} <= tables


async def test_maintenance_commands_migrate_an_outbox_the_daemon_has_not_opened_yet(tmp_path, ec_signer):
    path = tmp_path / "outbox.sqlite3"
    await _v2_outbox_with_an_ad_hoc_ledger(path, ec_signer)
    prune_archived(path, older_than_days=30)  # e.g. right after restoring an old backup, daemon stopped
    version, marks, tables = _version_and_marks(path)
    assert version == MIGRATIONS[-1].version and marks == 1 and "technical_corrections" in tables
