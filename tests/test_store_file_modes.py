"""The outbox, its WAL/SHM and whatever the daemon writes are private whatever the umask (issue 19, item 5)."""
from __future__ import annotations

import json
import os
import stat
import urllib.request
import uuid
from pathlib import Path

from daemon_fixtures import VALID_BODY, daemon_process
from ksef_edge.store import OutboxStore


def mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


async def test_database_and_wal_are_0600_under_umask_000(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        db = tmp_path / "outbox.sqlite3"
        store = await OutboxStore.open(db)
        try:
            await store.ping()
            files = [db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")]
            assert all(f.exists() for f in files)
            assert {f.name: mode(f) for f in files} == {f.name: 0o600 for f in files}
        finally:
            await store.close()
    finally:
        os.umask(old)


async def test_an_existing_world_readable_database_is_tightened(tmp_path: Path) -> None:
    db = tmp_path / "outbox.sqlite3"
    store = await OutboxStore.open(db)
    await store.close()
    os.chmod(db, 0o644)
    store = await OutboxStore.open(db)
    await store.close()
    assert mode(db) == 0o600


def test_daemon_under_umask_000_keeps_its_files_private(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        with daemon_process(tmp_path) as d:
            req = urllib.request.Request(d.base_url + "/v1/invoices", data=json.dumps(VALID_BODY).encode(), headers={
                **d.auth, "Content-Type": "application/json", "Idempotency-Key": uuid.uuid4().hex})
            with urllib.request.urlopen(req, timeout=30) as resp:
                assert resp.status == 201
            db = d.files.db
            for f in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")):
                assert mode(f) == 0o600, f
            status = Path(f"/proc/{d.proc.pid}/status").read_text()
            umask = int(next(line for line in status.splitlines() if line.startswith("Umask:")).split()[1], 8)
            assert umask & 0o027 == 0o027  # logs or exports it creates are at most 0640
    finally:
        os.umask(old)
