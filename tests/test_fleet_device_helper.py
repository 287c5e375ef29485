"""The device-side helper of the fleet plays: database backup and the rollback decision on real SQLite files.

A rollback must never lose an invoice: the backup is restored only when the new release migrated the
schema (the old release could not open it) AND issued nothing since the backup.
"""
from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

HELPER = Path(__file__).resolve().parents[1] / "scripts/fleet/roles/ksef_edge/files/device_helper.py"


def helper(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(HELPER), *args], capture_output=True, text=True, timeout=30)


def make_db(path: Path, *, schema: int, invoices: int) -> None:
    con = sqlite3.connect(path)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("CREATE TABLE IF NOT EXISTS invoices (id INTEGER PRIMARY KEY, number TEXT NOT NULL)")
    have = con.execute("SELECT count(*) FROM invoices").fetchone()[0]
    con.executemany("INSERT INTO invoices (number) VALUES (?)", [(f"FV/{i}",) for i in range(have + 1, invoices + 1)])
    con.execute(f"PRAGMA user_version={schema}")
    con.commit()
    con.close()


def count(path: Path) -> tuple[int, int]:
    con = sqlite3.connect(path)
    try:
        return con.execute("PRAGMA user_version").fetchone()[0], con.execute("SELECT count(*) FROM invoices").fetchone()[0]
    finally:
        con.close()


def test_backup_is_a_consistent_copy_even_with_uncommitted_wal(tmp_path: Path):
    db = tmp_path / "outbox.sqlite3"
    make_db(db, schema=1, invoices=3)
    writer = sqlite3.connect(db)  # an open writer with a pending transaction must not leak into the copy
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("INSERT INTO invoices (number) VALUES ('uncommitted')")
    out = helper("backup", "--db", str(db), "--out", str(tmp_path / "bak/before.sqlite"))
    writer.rollback()
    writer.close()
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["invoices"] == 3
    assert count(tmp_path / "bak/before.sqlite") == (1, 3)


def test_backup_of_a_fresh_device_is_skipped(tmp_path: Path):
    out = helper("backup", "--db", str(tmp_path / "none.sqlite3"), "--out", str(tmp_path / "b.sqlite"))
    assert out.returncode == 0 and json.loads(out.stdout)["backup"] is None


def test_rollback_keeps_the_live_database_when_the_schema_did_not_change(tmp_path: Path):
    db, bak = tmp_path / "outbox.sqlite3", tmp_path / "before.sqlite"
    make_db(db, schema=1, invoices=2)
    assert helper("backup", "--db", str(db), "--out", str(bak)).returncode == 0
    make_db(db, schema=1, invoices=5)  # the new release issued three more before it failed
    out = helper("rollback-db", "--db", str(db), "--backup", str(bak))
    assert out.returncode == 0 and json.loads(out.stdout)["action"] == "kept"
    assert count(db) == (1, 5)


def test_rollback_restores_the_backup_after_a_migration_that_issued_nothing(tmp_path: Path):
    db, bak = tmp_path / "outbox.sqlite3", tmp_path / "before.sqlite"
    make_db(db, schema=1, invoices=4)
    assert helper("backup", "--db", str(db), "--out", str(bak)).returncode == 0
    make_db(db, schema=2, invoices=4)  # migrated forward, then failed health checks
    out = helper("rollback-db", "--db", str(db), "--backup", str(bak))
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["action"] == "restored"
    assert count(db) == (1, 4)
    aside = [p for p in tmp_path.glob("outbox.sqlite3.rolled-back-*") if not p.name.endswith(("-wal", "-shm"))]
    assert len(aside) == 1 and count(aside[0]) == (2, 4)  # the migrated copy is kept, not deleted


def test_rollback_refuses_to_restore_over_invoices_issued_after_the_backup(tmp_path: Path):
    db, bak = tmp_path / "outbox.sqlite3", tmp_path / "before.sqlite"
    make_db(db, schema=1, invoices=4)
    assert helper("backup", "--db", str(db), "--out", str(bak)).returncode == 0
    make_db(db, schema=2, invoices=6)
    out = helper("rollback-db", "--db", str(db), "--backup", str(bak))
    assert out.returncode == 1
    assert "restoring the backup would lose them" in out.stderr and "6 now, 4 in" in out.stderr
    assert count(db) == (2, 6)  # untouched


def test_wait_healthz_names_the_url_and_the_last_answer_when_nothing_listens(tmp_path: Path):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = helper("wait-healthz", "--url", f"http://127.0.0.1:{port}/healthz", "--version", "1.2.3", "--timeout-s", "0.5")
    assert out.returncode == 1
    assert f"127.0.0.1:{port}/healthz did not answer 200 from version 1.2.3" in out.stderr
    assert "ConnectionRefusedError" in out.stderr


def _healthz_server(version: str):
    """A /healthz on loopback answering 200 with `version` until shut down."""
    import http.server
    import threading

    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps({"status": "ok", "version": version}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def test_soak_fails_when_the_release_stops_serving_or_issued_nothing(tmp_path: Path):
    """The canary soak (issue #25): a release that dies after its start checks is caught, and with
    --require-invoice a canary that never issued is not taken for a good one."""
    import threading

    db = tmp_path / "outbox.sqlite3"
    make_db(db, schema=6, invoices=3)
    server = _healthz_server("2.0.0")
    url = f"http://127.0.0.1:{server.server_address[1]}/healthz"
    try:
        ok = helper("soak", "--url", url, "--version", "2.0.0", "--seconds", "2", "--db", str(db), "--since-id", "2")
        assert ok.returncode == 0, ok.stderr
        assert json.loads(ok.stdout)["invoices_issued"] == 1
        idle = helper("soak", "--url", url, "--version", "2.0.0", "--seconds", "1", "--db", str(db),
                      "--since-id", "3", "--require-invoice")
        assert idle.returncode == 1 and "issued no invoice" in idle.stderr
        threading.Timer(1.5, server.shutdown).start()  # the release dies 1.5 s into the soak
        dead = helper("soak", "--url", url, "--version", "2.0.0", "--seconds", "20")
    finally:
        server.server_close()
    assert dead.returncode == 1 and "stopped serving" in dead.stderr, dead.stderr
