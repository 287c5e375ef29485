"""The outbox: durable issuance with gapless numbering, idempotency, and checked state transitions.

Every write runs on ONE dedicated thread with its own `sqlite3` connection (`WriterThread`): a whole
transaction, issuance included (BEGIN IMMEDIATE, idempotency check, clock floor, next number, build
+ validate + sign, INSERT, COMMIT), is a single function handed to that thread, so it costs one
event loop <-> thread hand-off instead of one per statement, and the thread itself serialises the
writes (numbering needs it and SQLite allows one writer anyway). A second, query-only aiosqlite
connection serves reads, so a reader never sees a row whose transaction may still roll back.
"""
from __future__ import annotations

import datetime as dt
import logging
import sqlite3
from pathlib import Path
from typing import Callable, TypeVar

from .corrected_files import CorrectedFiles
from .file_modes import create_private, tighten
from .incarnation import read_incarnation
from .migrations import MIGRATIONS, Migration, migrate_sync
from .open_errors import open_error
from .outbox_base import OutboxBase
from .outbox_reads import LIST_LIMIT_MAX, UPLOAD_PAGE_MAX, OutboxReads
from .outbox_transitions import OutboxTransitions
from .records import (
    ClockBehindError,
    CorrectionContext,
    IdempotencyConflictError,
    InvoiceRecord,
    InvoiceState,
    NewInvoice,
    NotFoundError,
    PrintState,
    StorageFullError,
)
from .retirement import check_not_retired
from .rows import COLUMNS, by_key_sync, floor_sync, record_from_row, utc_text
from .sqlite_thread import (
    SQLITE_FULL,
    WriterThread,
    connect_reader,
    free_bytes,
    quick_check,
)

log = logging.getLogger(__name__)

STORAGE_FREE_OK_BYTES = 4 * 1024 * 1024  # after a disk-full error, this much free space clears the alarm

T = TypeVar("T")


class OutboxStore(CorrectedFiles, OutboxTransitions, OutboxReads, OutboxBase):
    """Open with `await OutboxStore.open(path)`; close with `await store.close()`."""

    # ------------------------------------------------------------------------------- lifecycle

    @classmethod
    async def open(
        cls,
        path: str | Path,
        *,
        busy_timeout_ms: int = 5000,
        migrations: tuple[Migration, ...] = MIGRATIONS,
    ) -> "OutboxStore":
        """Open (creating if needed), check integrity, migrate, and recover from a previous crash.

        A file that cannot be used (read-only, not a database, damaged) is refused with a `StoreError`
        naming the path and the fix, and left untouched."""
        path = Path(path)
        writer = WriterThread()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            create_private(path)  # 0600 whatever the umask; SQLite gives -wal/-shm the same mode
            await writer.connect(path, busy_timeout_ms)

            def check_and_migrate(conn: sqlite3.Connection) -> int:
                quick_check(conn, path)
                version = migrate_sync(conn, migrations)
                check_not_retired(conn)  # moved to another device by migrate-out: never issue or upload here
                return version

            version = await writer.run(check_and_migrate)
            reader = await connect_reader(path, busy_timeout_ms)
            tighten(path)
        except (sqlite3.Error, OSError) as exc:
            await writer.close()
            raise open_error(path, exc) from exc
        except BaseException:
            await writer.close()
            raise
        store = cls(path, writer, reader)
        store.schema_version = version
        store.incarnation = await writer.run(read_incarnation)  # fixed while open: restores need it closed
        try:
            await store._recover()
        except (sqlite3.Error, OSError) as exc:
            await store.close()
            raise open_error(path, exc) from exc
        except BaseException:
            await store.close()
            raise
        return store

    async def close(self) -> None:
        await self._reader.close()
        await self._writer.close()  # after the writes already handed to its thread

    def storage_problem(self) -> StorageFullError | None:
        """The disk-full error while it lasts: until a write succeeds or enough space was freed."""
        full = self.storage_full
        if full is None:
            return None
        free = free_bytes(self.path.parent)
        if free is not None and free >= STORAGE_FREE_OK_BYTES:
            self.storage_full = None
            return None
        return StorageFullError(full.directory, free)

    async def _recover(self) -> None:
        """A print interrupted by a crash goes back to the queue; everything else is already consistent."""
        now = utc_text(dt.datetime.now(dt.timezone.utc))
        requeued = await self._write(lambda conn: conn.execute(
            "UPDATE invoices SET print_state = 'pending', updated_at = ? WHERE print_state = 'printing'", (now,),
        ).rowcount)
        if requeued:
            log.warning("requeued %d receipt(s) interrupted by a restart", requeued)

    # -------------------------------------------------------------------------------- issuance

    async def issue(
        self,
        *,
        series: str | Callable[[dt.datetime], str],
        created_at: dt.datetime,
        idempotency_key: str,
        request_hash: str,
        build: Callable[[int, dt.datetime], NewInvoice],
        floor_tolerance_s: float = 0.0,
        request_json: str = "",
        till: str | None = None,
    ) -> tuple[InvoiceRecord, bool]:
        """Allocate the next number of `series`, build the document for it, and store it, atomically.

        Returns `(record, created)`; `created` is False when `idempotency_key` was seen before with
        the same `request_hash` (the original invoice is returned). `series` may be a function of
        the effective creation time (a monthly series follows the clock). `build(seq, created_at)`
        runs inside the transaction, on the writer thread (off the event loop: a slow TPM signature
        does not stall it), with the number and the effective creation time (never below the clock
        floor); if it raises, nothing is stored and no number is used. A new invoice's record is
        made from what was just inserted (its `xml` filled), not read back.
        """
        def make(conn: sqlite3.Connection, seq: int, effective: dt.datetime) -> NewInvoice:
            return build(seq, effective)

        return await self._issue(
            series=series, created_at=created_at, idempotency_key=idempotency_key, request_hash=request_hash,
            make=make, floor_tolerance_s=floor_tolerance_s, request_json=request_json, till=till,
        )

    async def issue_correction(
        self,
        original_id: int,
        *,
        series: str | Callable[[dt.datetime], str],
        created_at: dt.datetime,
        idempotency_key: str,
        request_hash: str,
        build: Callable[[int, dt.datetime, CorrectionContext], NewInvoice],
        floor_tolerance_s: float = 0.0,
        request_json: str = "",
        till: str | None = None,
    ) -> tuple[InvoiceRecord, bool]:
        """Like `issue`, for a correction (KOR) of invoice `original_id`, in its own series.

        The original and the requests of its earlier corrections are read inside the same write
        transaction as the number allocation and passed to `build(seq, created_at, context)`, so
        two concurrent corrections see each other. `build` returns a NewInvoice with
        `correction_request_json` set (it raises to refuse: nothing is stored, no number used).
        Raises NotFoundError if `original_id` does not exist; a replayed Idempotency-Key returns the
        stored correction before the original is even looked at.
        """

        def make(conn: sqlite3.Connection, seq: int, effective: dt.datetime) -> NewInvoice:
            row = conn.execute(
                f"SELECT {COLUMNS}, xml, request_json FROM invoices WHERE id = ?", (original_id,)
            ).fetchone()
            if row is None:
                raise NotFoundError(f"invoice {original_id} does not exist")
            original = record_from_row(row[:-2], xml=bytes(row[-2]))
            prior = tuple(str(r[0]) for r in conn.execute(
                "SELECT correction_request_json FROM invoices WHERE corrects_id = ? ORDER BY id", (original_id,)
            ).fetchall())
            context = CorrectionContext(original=original, original_request_json=str(row[-1]), prior_requests=prior)
            new = build(seq, effective, context)
            if new.kind != "KOR" or not new.correction_request_json:
                raise ValueError("a correction must be built with kind='KOR' and its correction_request_json")
            return new

        return await self._issue(
            series=series, created_at=created_at, idempotency_key=idempotency_key, request_hash=request_hash,
            make=make, floor_tolerance_s=floor_tolerance_s, request_json=request_json, corrects_id=original_id,
            till=till,
        )

    async def _issue(
        self,
        *,
        series: str | Callable[[dt.datetime], str],
        created_at: dt.datetime,
        idempotency_key: str,
        request_hash: str,
        make: Callable[[sqlite3.Connection, int, dt.datetime], NewInvoice],
        floor_tolerance_s: float,
        request_json: str,
        corrects_id: int | None = None,
        till: str | None = None,
    ) -> tuple[InvoiceRecord, bool]:
        """The whole issuance as ONE function on the writer thread, in one transaction, answered after COMMIT."""
        now_text = utc_text(created_at)
        kind = "KOR" if corrects_id is not None else "VAT"

        def issuance(conn: sqlite3.Connection) -> tuple[InvoiceRecord, bool]:
            check_not_retired(conn)  # defence in depth: open() already refuses a retired outbox
            existing = by_key_sync(conn, idempotency_key)
            if existing is not None:
                conn.execute("ROLLBACK")
                if existing.request_hash != request_hash:
                    raise IdempotencyConflictError(
                        f"Idempotency-Key {idempotency_key!r} was already used for a different request "
                        f"(invoice {existing.number}); use a new key for a new invoice"
                    )
                return existing, False
            floor = floor_sync(conn)
            if floor is not None and created_at < floor - dt.timedelta(seconds=floor_tolerance_s):
                raise ClockBehindError(created_at, floor)
            effective = max(created_at, floor) if floor is not None else created_at
            effective_text = utc_text(effective)
            series_name = series(effective) if callable(series) else series
            seq = int(conn.execute(
                "SELECT COALESCE(MAX(seq), 0) FROM invoices WHERE series = ?", (series_name,)
            ).fetchone()[0]) + 1
            new = make(conn, seq, effective)
            invoice_id = conn.execute(
                "INSERT INTO invoices (series, seq, number, xml, sha256, issue_date, created_at, kod1_url, "
                "kod2_url, cert_serial, offline_mode, deadline, idempotency_key, request_hash, request_json, "
                "updated_at, kind, corrects_id, correction_request_json) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    series_name,
                    seq,
                    new.number,
                    new.xml,
                    new.sha256,
                    new.issue_date.isoformat(),
                    effective_text,
                    new.kod1_url,
                    new.kod2_url,
                    new.cert_serial,
                    new.offline_mode,
                    new.deadline.isoformat() if new.deadline else None,
                    idempotency_key,
                    request_hash,
                    request_json,
                    now_text,
                    kind,
                    corrects_id,
                    new.correction_request_json if corrects_id is not None else None,
                ),
            ).lastrowid
            assert invoice_id is not None  # an INSERT always sets it
            if till is not None:
                conn.execute("INSERT INTO invoice_tills (invoice_id, till) VALUES (?, ?)", (invoice_id, till))
            # the row as just inserted (the columns not given above take their defaults: issued, pending)
            record = InvoiceRecord(
                id=invoice_id, series=series_name, seq=seq, number=new.number, sha256=bytes(new.sha256),
                issue_date=new.issue_date, created_at=dt.datetime.fromisoformat(effective_text),
                kod1_url=new.kod1_url, kod2_url=new.kod2_url, cert_serial=new.cert_serial,
                offline_mode=new.offline_mode, deadline=new.deadline, state=InvoiceState.ISSUED,
                print_state=PrintState.PENDING, idempotency_key=idempotency_key, request_hash=request_hash,
                updated_at=dt.datetime.fromisoformat(now_text), xml=bytes(new.xml), kind=kind, corrects_id=corrects_id,
            )
            return record, True

        return await self._write_transaction(issuance)


__all__ = ["LIST_LIMIT_MAX", "SQLITE_FULL", "UPLOAD_PAGE_MAX", "OutboxStore"]
