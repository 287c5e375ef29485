"""Forward-only schema migrations, tracked in `PRAGMA user_version`.

Each migration runs in one transaction together with the version bump, so a failure (power cut,
bug, full disk) leaves the database exactly at the previous version.
"""
from __future__ import annotations

import sqlite3
from dataclasses import dataclass

import aiosqlite

from .records import MigrationError, SchemaTooNewError


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    statements: tuple[str, ...]


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "invoices outbox",
        (
            """
            CREATE TABLE invoices (
                id               INTEGER PRIMARY KEY,
                series           TEXT NOT NULL,
                seq              INTEGER NOT NULL CHECK (seq > 0),
                number           TEXT NOT NULL UNIQUE,
                xml              BLOB NOT NULL,
                sha256           BLOB NOT NULL CHECK (length(sha256) = 32),
                issue_date       TEXT NOT NULL,
                created_at       TEXT NOT NULL,
                kod1_url         TEXT,  -- NULL only in total failure (no QR codes)
                kod2_url         TEXT,
                cert_serial      TEXT,
                offline_mode     TEXT NOT NULL,
                deadline         TEXT,
                state            TEXT NOT NULL DEFAULT 'issued'
                                 CHECK (state IN ('issued','sending','accepted','confirmed','rejected')),
                ksef_session_ref TEXT,
                ksef_invoice_ref TEXT,
                ksef_number      TEXT,
                upo              BLOB,
                reject_code      TEXT,
                reject_reason    TEXT,
                print_state      TEXT NOT NULL DEFAULT 'pending'
                                 CHECK (print_state IN ('pending','printing','printed','failed_retrying','failed')),
                print_error      TEXT,
                idempotency_key  TEXT NOT NULL UNIQUE,
                request_hash     TEXT NOT NULL,
                request_json     TEXT NOT NULL DEFAULT '',  -- canonical POS request (receipt reprints)
                updated_at       TEXT NOT NULL,
                UNIQUE (series, seq)
            ) STRICT
            """,
            "CREATE INDEX invoices_state_deadline ON invoices (state, deadline)",
        ),
    ),
    Migration(
        2,
        "correction invoices (KOR): kind, corrected invoice, stored correction request",
        (
            "ALTER TABLE invoices ADD COLUMN kind TEXT NOT NULL DEFAULT 'VAT' CHECK (kind IN ('VAT','KOR'))",
            # the invoice a KOR corrects (never a KOR itself; enforced by OutboxStore.issue_correction)
            "ALTER TABLE invoices ADD COLUMN corrects_id INTEGER REFERENCES invoices (id)",
            # issuing.kor_request.request_to_json of the normalised request: later corrections fold it
            "ALTER TABLE invoices ADD COLUMN correction_request_json TEXT",
            "CREATE INDEX invoices_corrects ON invoices (corrects_id) WHERE corrects_id IS NOT NULL",
        ),
    ),
    Migration(
        3,
        "technical corrections (protocol.md 5.5): the accepted file's own bytes, hash and QR links",
        (
            # One accepted technical correction per rejected invoice. The invoice row keeps the bytes
            # that were signed and printed at the till; KSeF holds THESE bytes under `ksef_number`.
            """
            CREATE TABLE technical_corrections (
                invoice_id   INTEGER PRIMARY KEY REFERENCES invoices (id),
                xml          BLOB NOT NULL,
                sha256       BLOB NOT NULL CHECK (length(sha256) = 32),
                kod1_url     TEXT,
                kod2_url     TEXT,
                cert_serial  TEXT,
                ksef_number  TEXT NOT NULL,
                upo          BLOB NOT NULL,
                session_ref  TEXT NOT NULL,
                invoice_ref  TEXT NOT NULL,
                reject_code  TEXT,             -- why KSeF refused the original file
                created_at   TEXT NOT NULL
            ) STRICT
            """,
        ),
    ),
    Migration(
        4,
        "archive exports: which invoices an archive export holds, with the hash written (retention relies on it)",
        (
            # IF NOT EXISTS: releases before v4 created this same table from the archive code
            """
            CREATE TABLE IF NOT EXISTS archive_exports (
                invoice_id   INTEGER PRIMARY KEY,
                number       TEXT NOT NULL,
                sha256       BLOB NOT NULL,
                with_upo     INTEGER NOT NULL CHECK (with_upo IN (0, 1)),
                exported_at  TEXT NOT NULL,
                destination  TEXT NOT NULL,
                pruned_at    TEXT
            ) STRICT
            """,
        ),
    ),
    Migration(
        5,
        "device state: the outbox retired by migrate-out (issue #12: two tills must never share a series)",
        (
            # at most one row; its presence means "this outbox moved to another device" (store/retirement.py)
            """
            CREATE TABLE device_state (
                id           INTEGER PRIMARY KEY CHECK (id = 1),
                retired_at   TEXT NOT NULL,
                retired_to   TEXT NOT NULL
            ) STRICT
            """,
        ),
    ),
    Migration(
        6,
        "numbering incarnations (issue #25: a restored outbox never reuses a number) and invoices recovered from KSeF",
        (
            # one row per restore from a backup; the newest row's number tags the series (store/incarnation.py)
            """
            CREATE TABLE numbering_incarnations (
                incarnation  INTEGER PRIMARY KEY CHECK (incarnation >= 2),
                started_at   TEXT NOT NULL,
                reason       TEXT NOT NULL,
                source       TEXT NOT NULL,
                recovered_at TEXT  -- set once `recover` (or the daemon at start) has asked KSeF
            ) STRICT
            """,
            # what the lost device sent to KSeF after the backup: KSeF's exact bytes (archive/recovery.py)
            """
            CREATE TABLE recovered_invoices (
                ksef_number     TEXT PRIMARY KEY,
                number          TEXT NOT NULL,
                xml             BLOB NOT NULL,
                sha256          BLOB NOT NULL CHECK (length(sha256) = 32),
                issue_date      TEXT NOT NULL,
                acquired_at     TEXT,
                upo             BLOB,
                recovered_at    TEXT NOT NULL
            ) STRICT
            """,
        ),
    ),
    Migration(
        7,
        "named tills: one hashed POS token per till, and which till issued each invoice (store/tills.py)",
        (
            """
            CREATE TABLE tills (
                name          TEXT PRIMARY KEY,
                token_sha256  BLOB NOT NULL UNIQUE CHECK (length(token_sha256) = 32),
                created_at    TEXT NOT NULL,
                revoked_at    TEXT
            ) STRICT
            """,
            """
            CREATE TABLE invoice_tills (
                invoice_id  INTEGER PRIMARY KEY REFERENCES invoices(id),
                till        TEXT NOT NULL
            ) STRICT
            """,
        ),
    ),
    Migration(
        8,
        "finding an invoice (issue #20): search columns read from each stored XML, and a date index",
        (
            # derived from invoices.xml by store/search.py (catch-up by id); never the source of truth
            """
            CREATE TABLE invoice_search (
                invoice_id   INTEGER PRIMARY KEY REFERENCES invoices (id),
                gross_cents  INTEGER NOT NULL,  -- P_15 in grosze (a KOR: the difference)
                buyer_nip    TEXT,
                buyer_name   TEXT,              -- casefolded, for substring search
                buyer_shown  TEXT,              -- as written on the invoice, for the results
                payment      TEXT,              -- FormaPlatnosci code
                receipt_no   TEXT               -- the fiscal receipt's number of an invoice to a receipt
            ) STRICT
            """,
            "CREATE INDEX invoice_search_nip ON invoice_search (buyer_nip) WHERE buyer_nip IS NOT NULL",
            "CREATE INDEX invoice_search_gross ON invoice_search (gross_cents)",
            "CREATE INDEX invoices_issue_date ON invoices (issue_date)",
        ),
    ),
)


def latest_version(migrations: tuple[Migration, ...] = MIGRATIONS) -> int:
    return migrations[-1].version if migrations else 0


async def current_version(conn: aiosqlite.Connection) -> int:
    async with conn.execute("PRAGMA user_version") as cur:
        row = await cur.fetchone()
    return int(row[0]) if row is not None else 0


def _pending(have: int, migrations: tuple[Migration, ...]) -> list[Migration]:
    """The migrations a database at version `have` still needs; refuses a schema newer than this release."""
    target = latest_version(migrations)
    if have > target:
        raise SchemaTooNewError(
            f"database schema v{have} is newer than this release understands (v{target}); "
            "run the release that wrote it, or restore a backup"
        )
    return [m for m in migrations if m.version > have]


def _failed(migration: Migration, have: int, exc: Exception) -> MigrationError:
    return MigrationError(
        f"migration v{migration.version} ({migration.description}) failed: {exc}; the database stays at v{have}"
    )


async def migrate(conn: aiosqlite.Connection, migrations: tuple[Migration, ...] = MIGRATIONS) -> int:
    """Bring the schema to the newest version; returns it. `conn` must be in autocommit mode."""
    have = await current_version(conn)
    for migration in _pending(have, migrations):
        await conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in migration.statements:
                await conn.execute(statement)
            await conn.execute(f"PRAGMA user_version = {int(migration.version)}")
            await conn.commit()
        except BaseException as exc:
            await conn.rollback()
            if isinstance(exc, Exception):
                raise _failed(migration, have, exc) from exc
            raise
        have = migration.version
    return have


def migrate_sync(con: sqlite3.Connection, migrations: tuple[Migration, ...] = MIGRATIONS) -> int:
    """`migrate` for a plain `sqlite3` connection in autocommit mode (`isolation_level=None`).

    For the maintenance commands (export, prune, backup restore checks) that open the outbox without
    the daemon: the same migrations, each in one transaction with its version bump.
    """
    have = int(con.execute("PRAGMA user_version").fetchone()[0])
    for migration in _pending(have, migrations):
        con.execute("BEGIN IMMEDIATE")
        try:
            for statement in migration.statements:
                con.execute(statement)
            con.execute(f"PRAGMA user_version = {int(migration.version)}")
            con.execute("COMMIT")
        except BaseException as exc:
            con.execute("ROLLBACK")
            if isinstance(exc, Exception):
                raise _failed(migration, have, exc) from exc
            raise
        have = migration.version
    return have
