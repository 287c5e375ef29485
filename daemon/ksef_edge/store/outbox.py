"""The outbox: durable issuance with gapless numbering, idempotency, and checked state transitions.

Every write runs on ONE dedicated thread with its own `sqlite3` connection (`_Writer`): a whole
transaction, issuance included (BEGIN IMMEDIATE, idempotency check, clock floor, next number, build
+ validate + sign, INSERT, COMMIT), is a single function handed to that thread, so it costs one
event loop <-> thread hand-off instead of one per statement, and the thread itself serialises the
writes (numbering needs it and SQLite allows one writer anyway). A second, query-only aiosqlite
connection serves reads, so a reader never sees a row whose transaction may still roll back.
"""
from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence, TypeVar

import aiosqlite

from .file_modes import create_private, tighten
from .migrations import MIGRATIONS, Migration, migrate_sync
from .incarnation import read_incarnation
from .retirement import check_not_retired
from .open_errors import open_error
from .records import (
    ClockBehindError,
    CorrectionContext,
    IdempotencyConflictError,
    IntegrityCheckError,
    InvalidTransitionError,
    InvoiceRecord,
    InvoiceState,
    NewInvoice,
    NotFoundError,
    PrintState,
    StorageFullError,
    TechnicalCorrection,
)

log = logging.getLogger(__name__)

LIST_LIMIT_MAX = 500
SQLITE_FULL = 13  # primary result code: "database or disk is full"
STORAGE_FREE_OK_BYTES = 4 * 1024 * 1024  # after a disk-full error, this much free space clears the alarm
UPLOAD_PAGE_MAX = 10_000  # KSeF takes up to 10 000 invoices in one batch session
_COLUMNS = (
    "id, series, seq, number, sha256, issue_date, created_at, kod1_url, kod2_url, cert_serial, offline_mode, "
    "deadline, state, print_state, idempotency_key, request_hash, updated_at, ksef_session_ref, "
    "ksef_invoice_ref, ksef_number, upo, reject_code, reject_reason, print_error, kind, corrects_id"
)
_I_COLUMNS = ", ".join(f"i.{c.strip()}" for c in _COLUMNS.split(","))


def _utc(ts: dt.datetime) -> str:
    if ts.tzinfo is None:
        raise ValueError("timestamps must be timezone-aware")
    return ts.astimezone(dt.timezone.utc).isoformat(timespec="microseconds")


T = TypeVar("T")


def free_bytes(directory: Path) -> int | None:
    """Free space for an unprivileged writer on the filesystem holding `directory` (None if unknown)."""
    try:
        st = os.statvfs(directory)
    except OSError:
        return None
    return st.f_bavail * st.f_frsize


def is_disk_full(exc: BaseException) -> bool:
    if not isinstance(exc, sqlite3.OperationalError):
        return False
    code = getattr(exc, "sqlite_errorcode", None)
    return (code is not None and code & 0xFF == SQLITE_FULL) or "database or disk is full" in str(exc)


def _pragmas(busy_timeout_ms: int) -> list[str]:
    """Both connections: WAL, and every commit fsync'd before it returns (synchronous=FULL)."""
    return [f"PRAGMA busy_timeout = {int(busy_timeout_ms)}", "PRAGMA journal_mode = WAL", "PRAGMA synchronous = FULL"]


def _check_wal(path: Path, mode: Any) -> None:
    if str(mode).lower() != "wal":
        raise IntegrityCheckError(f"cannot switch {path} to WAL journal mode (got {mode!r})")


async def _connect_reader(path: Path, busy_timeout_ms: int) -> aiosqlite.Connection:
    conn = await aiosqlite.connect(str(path), isolation_level=None)
    try:
        for pragma in _pragmas(busy_timeout_ms):
            async with conn.execute(pragma) as cur:
                row = await cur.fetchone()
            if "journal_mode" in pragma:
                _check_wal(path, row[0])
        await conn.execute("PRAGMA query_only = ON")
    except BaseException:
        await conn.close()
        raise
    return conn


def _connect_writer(path: Path, busy_timeout_ms: int) -> sqlite3.Connection:
    """The write connection (on the writer thread: sqlite3 refuses its use from any other)."""
    conn = sqlite3.connect(str(path), isolation_level=None, timeout=busy_timeout_ms / 1000)
    try:
        for pragma in _pragmas(busy_timeout_ms):
            row = conn.execute(pragma).fetchone()
            if "journal_mode" in pragma:
                _check_wal(path, row[0])
    except BaseException:
        conn.close()
        raise
    return conn


def _quick_check(conn: sqlite3.Connection, path: Path) -> None:
    rows = [r[0] for r in conn.execute("PRAGMA quick_check").fetchall()]
    if rows != ["ok"]:
        raise IntegrityCheckError(
            f"database {path} failed PRAGMA quick_check ({rows[0] if rows else 'no result'}); "
            "stop the service and restore the latest backup"
        )


def _transaction(conn: sqlite3.Connection, body: Callable[[sqlite3.Connection], T]) -> T:
    """`body` in one BEGIN IMMEDIATE transaction: committed when it returns, rolled back when it raises
    (it may end the transaction itself, e.g. an idempotent replay rolls back)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        result = body(conn)
        if conn.in_transaction:
            conn.execute("COMMIT")
        return result
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


class _Writer:
    """The one write connection and the one thread that uses it."""

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="outbox-writer")
        self._conn: sqlite3.Connection | None = None

    async def connect(self, path: Path, busy_timeout_ms: int) -> None:
        self._conn = await self._call(_connect_writer, path, busy_timeout_ms)

    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    async def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """`fn(conn)` on the writer thread: one hand-off. Once started it runs to its end even if the
        awaiting task is cancelled (a transaction is never cut)."""
        assert self._conn is not None, "writer not connected"
        return await self._call(fn, self._conn)

    async def close(self) -> None:
        if self._conn is not None:
            await self._call(self._conn.close)
            self._conn = None
        self._pool.shutdown(wait=False)


class _SerialReader:
    """The read connection, one statement at a time.

    SQLite keeps a connection's read snapshot for as long as any of its statements is active, and
    aiosqlite lets coroutines interleave statements on one connection: a read started just before
    an invoice was committed could make that invoice invisible to a read started just after it
    (seen under load: `issue()` could not find the row it had just committed). Serialising the
    statements gives every read a fresh snapshot.
    """

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn
        self._lock = asyncio.Lock()

    @contextlib.asynccontextmanager
    async def execute(self, sql: str, parameters: Iterable[Any] = ()) -> Any:
        async with self._lock:
            async with self._conn.execute(sql, parameters) as cur:
                yield cur

    async def close(self) -> None:
        async with self._lock:
            await self._conn.close()


class OutboxStore:
    """Open with `await OutboxStore.open(path)`; close with `await store.close()`."""

    def __init__(self, path: Path, writer: _Writer, reader: aiosqlite.Connection) -> None:
        self.path = path
        self._writer = writer
        self._reader = _SerialReader(reader)
        self.schema_version = 0
        self.incarnation = 1  # numbering incarnation (store/incarnation.py), read at open
        self.storage_full: StorageFullError | None = None  # the last write failed for lack of space

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
        writer = _Writer()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            create_private(path)  # 0600 whatever the umask; SQLite gives -wal/-shm the same mode
            await writer.connect(path, busy_timeout_ms)

            def check_and_migrate(conn: sqlite3.Connection) -> int:
                _quick_check(conn, path)
                version = migrate_sync(conn, migrations)
                check_not_retired(conn)  # moved to another device by migrate-out: never issue or upload here
                return version

            version = await writer.run(check_and_migrate)
            reader = await _connect_reader(path, busy_timeout_ms)
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

    async def _write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """`fn(conn)` on the writer thread. A full disk becomes `StorageFullError` (and the alarm in
        `storage_problem`); any write that succeeds clears it."""
        try:
            result = await self._writer.run(fn)
        except sqlite3.OperationalError as exc:
            if not is_disk_full(exc):
                raise
            full = StorageFullError(str(self.path.parent), free_bytes(self.path.parent))
            self.storage_full = full
            log.error("%s: %s", self.path, full)
            raise full from exc
        self.storage_full = None
        return result

    async def _write_transaction(self, body: Callable[[sqlite3.Connection], T]) -> T:
        """`body(conn)` in one BEGIN IMMEDIATE transaction on the writer thread (see `_transaction`)."""
        return await self._write(lambda conn: _transaction(conn, body))

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
        now = _utc(dt.datetime.now(dt.timezone.utc))
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
            make=make, floor_tolerance_s=floor_tolerance_s, request_json=request_json,
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
                f"SELECT {_COLUMNS}, xml, request_json FROM invoices WHERE id = ?", (original_id,)
            ).fetchone()
            if row is None:
                raise NotFoundError(f"invoice {original_id} does not exist")
            original = _record(row[:-2], xml=bytes(row[-2]))
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
    ) -> tuple[InvoiceRecord, bool]:
        """The whole issuance as ONE function on the writer thread, in one transaction, answered after COMMIT."""
        now_text = _utc(created_at)
        kind = "KOR" if corrects_id is not None else "VAT"

        def issuance(conn: sqlite3.Connection) -> tuple[InvoiceRecord, bool]:
            check_not_retired(conn)  # defence in depth: open() already refuses a retired outbox
            existing = _by_key_sync(conn, idempotency_key)
            if existing is not None:
                conn.execute("ROLLBACK")
                if existing.request_hash != request_hash:
                    raise IdempotencyConflictError(
                        f"Idempotency-Key {idempotency_key!r} was already used for a different request "
                        f"(invoice {existing.number}); use a new key for a new invoice"
                    )
                return existing, False
            floor = _floor_sync(conn)
            if floor is not None and created_at < floor - dt.timedelta(seconds=floor_tolerance_s):
                raise ClockBehindError(created_at, floor)
            effective = max(created_at, floor) if floor is not None else created_at
            effective_text = _utc(effective)
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

    async def clock_floor(self) -> dt.datetime | None:
        """The timestamp of the last issued invoice: the clock must not be earlier than this."""
        return await self._floor(self._reader)

    # ------------------------------------------------------------------------------------ reads

    async def get(self, invoice_id: int) -> InvoiceRecord:
        return await self._get(self._reader, invoice_id)

    async def get_xml(self, invoice_id: int) -> bytes:
        async with self._reader.execute("SELECT xml FROM invoices WHERE id = ?", (invoice_id,)) as cur:
            row = await cur.fetchone()
        if row is None:
            raise NotFoundError(f"invoice {invoice_id} does not exist")
        return bytes(row[0])

    async def get_request_json(self, invoice_id: int) -> str:
        """The canonical POS request the invoice was built from (to lay out a reprint)."""
        async with self._reader.execute("SELECT request_json FROM invoices WHERE id = ?", (invoice_id,)) as cur:
            row = await cur.fetchone()
        if row is None:
            raise NotFoundError(f"invoice {invoice_id} does not exist")
        return str(row[0])

    async def list_print_backlog(self, since: dt.datetime, limit: int) -> list[InvoiceRecord]:
        """Receipts not yet printed (pending / retrying) issued since `since`, oldest first."""
        async with self._reader.execute(
            f"SELECT {_COLUMNS} FROM invoices WHERE print_state IN ('pending','printing','failed_retrying') "
            "AND created_at >= ? ORDER BY id LIMIT ?",
            (_utc(since), max(1, min(int(limit), LIST_LIMIT_MAX))),
        ) as cur:
            return [_record(r) for r in await cur.fetchall()]

    async def find_by_idempotency_key(self, key: str) -> InvoiceRecord | None:
        return await self._by_key(self._reader, key)

    async def list(
        self, *, state: InvoiceState | None = None, limit: int = 50, after: int = 0
    ) -> list[InvoiceRecord]:
        """Page through invoices by id (`after` = last id of the previous page)."""
        return await self._page("id > ?", int(after), "id", state, limit)

    async def list_newest_first(
        self, *, state: InvoiceState | None = None, limit: int = 50, before: int | None = None
    ) -> list[InvoiceRecord]:
        """Page through invoices newest first (`before` = last id of the previous page; None = from the newest).

        Added for the API's `GET /v1/invoices?order=desc` (the page's recent list); mirrors `list`.
        """
        return await self._page("id < ?", int(before) if before is not None else 2**63 - 1, "id DESC", state, limit)

    async def _page(
        self, cursor_sql: str, cursor: int, order_sql: str, state: InvoiceState | None, limit: int
    ) -> list[InvoiceRecord]:
        sql = f"SELECT {_COLUMNS} FROM invoices WHERE {cursor_sql}"
        params: list[Any] = [cursor]
        if state is not None:
            sql += " AND state = ?"
            params.append(InvoiceState(state).value)
        sql += f" ORDER BY {order_sql} LIMIT ?"
        params.append(max(1, min(int(limit), LIST_LIMIT_MAX)))
        async with self._reader.execute(sql, params) as cur:
            return [_record(r) for r in await cur.fetchall()]

    async def list_for_upload(self, limit: int) -> list[InvoiceRecord]:
        """Documents waiting for upload (state issued) that may be sent now, most urgent first, with their XML.

        A correction (KOR) is held back until its original is accepted (KSeF takes a correction only
        after the original has its KSeF number: docs/corrections.md). An original is due by the
        earliest of its own deadline and those of the corrections waiting for it
        (`domain.correction_ordering.upload_order` / `original_send_by`, done here in SQL).
        """
        limit = max(1, min(int(limit), UPLOAD_PAGE_MAX))
        # The waiting corrections' deadlines are aggregated once (partial index invoices_corrects), not
        # per row: a correlated subquery here made a 10 000-invoice backlog quadratic (minutes).
        async with self._reader.execute(
            "WITH waiting AS (SELECT corrects_id AS original, MIN(deadline) AS deadline FROM invoices "
            "WHERE corrects_id IS NOT NULL AND state = 'issued' GROUP BY corrects_id) "
            f"SELECT * FROM (SELECT {_I_COLUMNS}, i.xml, "
            "COALESCE(MIN(i.deadline, w.deadline), i.deadline, w.deadline) AS due "
            "FROM invoices AS i LEFT JOIN invoices AS o ON o.id = i.corrects_id "
            "LEFT JOIN waiting AS w ON w.original = i.id "
            "WHERE i.state = 'issued' AND (i.corrects_id IS NULL OR o.state IN ('accepted','confirmed'))) "
            "ORDER BY due IS NULL, due, id LIMIT ?",
            (limit,),
        ) as cur:
            return [_record(r[:-2], xml=bytes(r[-2])) for r in await cur.fetchall()]

    async def corrections_of(self, original_id: int) -> list[InvoiceRecord]:
        """The correction invoices of `original_id`, in issue order."""
        async with self._reader.execute(
            f"SELECT {_COLUMNS} FROM invoices WHERE corrects_id = ? ORDER BY id", (original_id,)
        ) as cur:
            return [_record(r) for r in await cur.fetchall()]

    async def blocked_corrections(self, limit: int = LIST_LIMIT_MAX) -> list[tuple[InvoiceRecord, InvoiceRecord]]:
        """(correction, original) pairs of corrections still waiting for their original's KSeF number."""
        o_columns = ", ".join(f"o.{c.strip()}" for c in _COLUMNS.split(","))
        width = len(_COLUMNS.split(","))
        async with self._reader.execute(
            f"SELECT {_I_COLUMNS}, {o_columns} FROM invoices AS i JOIN invoices AS o ON o.id = i.corrects_id "
            "WHERE i.state = 'issued' AND o.state NOT IN ('accepted','confirmed') ORDER BY i.id LIMIT ?",
            (max(1, min(int(limit), LIST_LIMIT_MAX)),),
        ) as cur:
            return [(_record(r[:width]), _record(r[width:])) for r in await cur.fetchall()]

    async def counts_by_state(self) -> dict[str, int]:
        return await self._counts("state", InvoiceState)

    async def counts_by_print_state(self) -> dict[str, int]:
        return await self._counts("print_state", PrintState)

    async def _counts(self, column: str, states: Iterable[InvoiceState | PrintState]) -> dict[str, int]:
        """Invoices per value of `column`, every state present (0 when none)."""
        counts = {s.value: 0 for s in states}
        async with self._reader.execute(f"SELECT {column}, COUNT(*) FROM invoices GROUP BY {column}") as cur:
            for state, n in await cur.fetchall():
                counts[state] = int(n)
        return counts

    async def nearest_deadline(self) -> dt.date | None:
        """Earliest upload deadline among invoices not yet accepted by KSeF."""
        async with self._reader.execute(
            "SELECT MIN(deadline) FROM invoices WHERE state IN ('issued','sending','rejected') AND deadline IS NOT NULL"
        ) as cur:
            row = await cur.fetchone()
        return dt.date.fromisoformat(row[0]) if row and row[0] else None

    async def ping(self) -> None:
        async with self._reader.execute("SELECT 1") as cur:
            await cur.fetchone()

    # ------------------------------------------------------------------------------ transitions

    async def mark_sending(self, invoice_id: int, session_ref: str, invoice_ref: str | None = None) -> None:
        """Record the KSeF session (and invoice) reference BEFORE sending, so a restart can query it.

        Allowed from `issued`, and from `sending` (resumed in a new session after a status query).
        """
        _require_text(session_ref, "session_ref")
        await self._transition(
            invoice_id,
            {InvoiceState.ISSUED, InvoiceState.SENDING},
            InvoiceState.SENDING,
            {"ksef_session_ref": session_ref, "ksef_invoice_ref": invoice_ref},
        )

    async def mark_sending_many(self, invoice_ids: Sequence[int], session_ref: str) -> None:
        """`mark_sending` for a whole batch session in ONE transaction (one fsync, not 10 000).

        All or nothing: if any invoice is not `issued`/`sending`, none changes (InvalidTransitionError).
        """
        _require_text(session_ref, "session_ref")
        await self._transition_many(
            [(i, (session_ref, None)) for i in invoice_ids],
            {InvoiceState.ISSUED, InvoiceState.SENDING},
            InvoiceState.SENDING,
            ("ksef_session_ref", "ksef_invoice_ref"),
        )

    async def mark_accepted_many(self, accepted: Sequence[tuple[int, str]]) -> None:
        """`mark_accepted` for many `(invoice_id, ksef_number)` in one transaction (a processed batch)."""
        for _, number in accepted:
            _require_text(number, "ksef_number")
        await self._transition_many(
            [(i, (n,)) for i, n in accepted], {InvoiceState.SENDING}, InvoiceState.ACCEPTED, ("ksef_number",)
        )

    async def mark_confirmed_many(self, confirmed: Sequence[tuple[int, bytes]]) -> None:
        """`mark_confirmed` for many `(invoice_id, upo)` in one transaction."""
        for invoice_id, upo in confirmed:
            _require_upo(invoice_id, upo)
        await self._transition_many(
            [(i, (bytes(u),)) for i, u in confirmed], {InvoiceState.ACCEPTED}, InvoiceState.CONFIRMED, ("upo",)
        )

    async def set_deadline(self, invoice_id: int, deadline: dt.date | None) -> bool:
        """Store a recomputed upload deadline (e.g. a KSeF failure announced by Latarnia moved it).

        Only for invoices KSeF does not hold yet (issued, sending, rejected); returns False otherwise.
        """
        text = deadline.isoformat() if deadline else None
        stamp = _utc(dt.datetime.now(dt.timezone.utc))
        changed = await self._write(lambda conn: conn.execute(
            "UPDATE invoices SET deadline = ?, updated_at = ? WHERE id = ? "
            "AND state IN ('issued','sending','rejected') AND deadline IS NOT ?",
            (text, stamp, invoice_id, text),
        ).rowcount)
        if changed:
            log.info("invoice %s: upload deadline now %s", invoice_id, deadline)
        return bool(changed)

    async def record_correction(
        self,
        invoice_id: int,
        *,
        xml: bytes,
        ksef_number: str,
        upo: bytes | None,
        session_ref: str,
        invoice_ref: str,
        kod1_url: str | None = None,
        kod2_url: str | None = None,
        cert_serial: str | None = None,
    ) -> InvoiceRecord:
        """KSeF accepted a technical correction of the `rejected` invoice: store the accepted file.

        The corrected bytes, their SHA-256 and their own KOD I / KOD II (computed by the caller from
        THESE bytes) go into `technical_corrections`; the invoice row keeps the bytes signed and
        printed at the till and becomes `confirmed` with the correction's KSeF number and UPO, in one
        transaction. Returns the updated invoice. `upo` None: KSeF accepted it but its UPO could not be
        fetched yet; the invoice is then `accepted` and the uplink fetches the UPO (issue #17).
        """
        import hashlib  # noqa: PLC0415

        _require_text(ksef_number, "ksef_number")
        _require_text(session_ref, "session_ref")
        _require_text(invoice_ref, "invoice_ref")
        if not xml or upo == b"":
            raise InvalidTransitionError(f"invoice {invoice_id}: the corrected XML and its UPO must be non-empty")
        state = InvoiceState.CONFIRMED.value if upo else InvoiceState.ACCEPTED.value
        digest = hashlib.sha256(bytes(xml)).digest()
        now = _utc(dt.datetime.now(dt.timezone.utc))
        def record(conn: sqlite3.Connection) -> None:
            row = conn.execute("SELECT state, sha256, reject_code FROM invoices WHERE id = ?", (invoice_id,)).fetchone()
            if row is None:
                raise NotFoundError(f"invoice {invoice_id} does not exist")
            if row[0] != InvoiceState.REJECTED.value:
                raise InvalidTransitionError(
                    f"invoice {invoice_id} is {row[0]!r}; only a 'rejected' invoice takes a technical correction")
            if bytes(row[1]) == digest:
                raise InvalidTransitionError(
                    f"invoice {invoice_id}: the corrected file is byte-identical to the rejected one")
            conn.execute(
                "INSERT INTO technical_corrections (invoice_id, xml, sha256, kod1_url, kod2_url, cert_serial, "
                "ksef_number, upo, session_ref, invoice_ref, reject_code, created_at) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                (invoice_id, bytes(xml), digest, kod1_url, kod2_url, cert_serial, ksef_number, bytes(upo or b""),
                 session_ref, invoice_ref, row[2], now),
            )  # b"": the UPO is still to come; readers then take the invoice row's (set by mark_confirmed)
            conn.execute(
                "UPDATE invoices SET state = ?, ksef_number = ?, upo = ?, ksef_session_ref = ?, "
                "ksef_invoice_ref = ?, updated_at = ? WHERE id = ?",
                (state, ksef_number, bytes(upo) if upo else None, session_ref, invoice_ref, now, invoice_id),
            )

        await self._write_transaction(record)
        log.info("invoice %s: technical correction accepted as %s", invoice_id, ksef_number)
        return await self._get(self._reader, invoice_id)

    async def technical_correction(self, invoice_id: int) -> TechnicalCorrection | None:
        """The accepted technical correction of an invoice, if there is one."""
        async with self._reader.execute(
            "SELECT t.invoice_id, t.xml, t.sha256, t.kod1_url, t.kod2_url, t.cert_serial, t.ksef_number, "
            "coalesce(nullif(t.upo, x''), i.upo), t.session_ref, t.invoice_ref, t.reject_code, t.created_at "
            "FROM technical_corrections t JOIN invoices i ON i.id = t.invoice_id WHERE t.invoice_id = ?",
            (invoice_id,),
        ) as cur:
            row = await cur.fetchone()
        if row is None:
            return None
        return TechnicalCorrection(
            invoice_id=row[0], xml=bytes(row[1]), sha256=bytes(row[2]), kod1_url=row[3], kod2_url=row[4],
            cert_serial=row[5], ksef_number=row[6], upo=bytes(row[7]) if row[7] else None, session_ref=row[8],
            invoice_ref=row[9],
            reject_code=row[10], created_at=dt.datetime.fromisoformat(row[11]),
        )

    async def mark_requeued(self, invoice_id: int) -> None:
        """`sending` -> `issued`: the session ended without KSeF accepting or rejecting the invoice."""
        await self._transition(
            invoice_id,
            {InvoiceState.SENDING},
            InvoiceState.ISSUED,
            {"ksef_session_ref": None, "ksef_invoice_ref": None},
        )

    async def mark_accepted(self, invoice_id: int, ksef_number: str) -> None:
        _require_text(ksef_number, "ksef_number")
        await self._transition(
            invoice_id, {InvoiceState.SENDING}, InvoiceState.ACCEPTED, {"ksef_number": ksef_number}
        )

    async def mark_confirmed(self, invoice_id: int, upo: bytes) -> None:
        _require_upo(invoice_id, upo)
        await self._transition(invoice_id, {InvoiceState.ACCEPTED}, InvoiceState.CONFIRMED, {"upo": bytes(upo)})

    async def mark_rejected(self, invoice_id: int, code: str, reason: str) -> None:
        await self._transition(
            invoice_id,
            {InvoiceState.SENDING},
            InvoiceState.REJECTED,
            {"reject_code": str(code), "reject_reason": str(reason)},
        )

    async def set_print_state(self, invoice_id: int, state: PrintState | str, error: str | None = None) -> None:
        """Printer callback; any print state may follow any other (a reprint restarts the cycle)."""
        state = PrintState(state)
        stamp = _utc(dt.datetime.now(dt.timezone.utc))
        changed = await self._write(lambda conn: conn.execute(
            "UPDATE invoices SET print_state = ?, print_error = ?, updated_at = ? WHERE id = ?",
            (state.value, error, stamp, invoice_id),
        ).rowcount)
        if changed != 1:
            raise NotFoundError(f"invoice {invoice_id} does not exist")

    async def _transition(
        self, invoice_id: int, allowed: Iterable[InvoiceState], to: InvoiceState, values: dict[str, Any]
    ) -> None:
        await self._set_states([(invoice_id, tuple(values.values()))], allowed, to, tuple(values))
        log.info("invoice %s -> %s", invoice_id, to.value)

    async def _transition_many(
        self,
        items: Sequence[tuple[int, tuple[Any, ...]]],
        allowed: Iterable[InvoiceState],
        to: InvoiceState,
        columns: tuple[str, ...],
    ) -> None:
        """`_transition` for many invoices in one transaction; all or nothing."""
        if not items:
            return
        await self._set_states(items, allowed, to, columns, batch=True)
        log.info("%d invoice(s) -> %s", len(items), to.value)

    async def _set_states(
        self,
        items: Sequence[tuple[int, tuple[Any, ...]]],
        allowed: Iterable[InvoiceState],
        to: InvoiceState,
        columns: tuple[str, ...],
        *,
        batch: bool = False,
    ) -> None:
        """Move each `(invoice_id, values of columns)` from an `allowed` state to `to`, in one transaction."""
        allowed = sorted(s.value for s in allowed)
        sets = ", ".join(f"{col} = ?" for col in columns)
        marks = ",".join("?" for _ in allowed)
        sql = f"UPDATE invoices SET state = ?, {sets}, updated_at = ? WHERE id = ? AND state IN ({marks})"
        stamp = _utc(dt.datetime.now(dt.timezone.utc))
        def update(conn: sqlite3.Connection) -> None:
            for invoice_id, values in items:
                if conn.execute(sql, (to.value, *values, stamp, invoice_id, *allowed)).rowcount == 1:
                    continue
                row = conn.execute("SELECT state FROM invoices WHERE id = ?", (invoice_id,)).fetchone()
                if row is None:
                    raise NotFoundError(f"invoice {invoice_id} does not exist")
                raise InvalidTransitionError(
                    f"invoice {invoice_id} is {row[0]!r}; it can become {to.value!r} only from "
                    f"{' or '.join(repr(a) for a in allowed)}"
                    + (f" (none of the {len(items)} changed)" if batch else "")
                )

        await self._write_transaction(update)

    # -------------------------------------------------------------------------------- internals

    @staticmethod
    async def _floor(conn: Any) -> dt.datetime | None:
        async with conn.execute(_FLOOR_SQL) as cur:
            row = await cur.fetchone()
        return dt.datetime.fromisoformat(row[0]) if row else None

    @staticmethod
    async def _by_key(conn: Any, key: str) -> InvoiceRecord | None:
        async with conn.execute(f"SELECT {_COLUMNS} FROM invoices WHERE idempotency_key = ?", (key,)) as cur:
            row = await cur.fetchone()
        return _record(row) if row else None

    @staticmethod
    async def _get(conn: Any, invoice_id: int) -> InvoiceRecord:
        async with conn.execute(f"SELECT {_COLUMNS} FROM invoices WHERE id = ?", (invoice_id,)) as cur:
            row = await cur.fetchone()
        if row is None:
            raise NotFoundError(f"invoice {invoice_id} does not exist")
        return _record(row)


# ids grow with time because issuing below the floor is refused, so the last row holds the floor
_FLOOR_SQL = "SELECT created_at FROM invoices ORDER BY id DESC LIMIT 1"


def _floor_sync(conn: sqlite3.Connection) -> dt.datetime | None:
    row = conn.execute(_FLOOR_SQL).fetchone()
    return dt.datetime.fromisoformat(row[0]) if row else None


def _by_key_sync(conn: sqlite3.Connection, key: str) -> InvoiceRecord | None:
    row = conn.execute(f"SELECT {_COLUMNS} FROM invoices WHERE idempotency_key = ?", (key,)).fetchone()
    return _record(row) if row else None


def _require_text(value: object, name: str) -> None:
    if not isinstance(value, str) or not value.strip():
        raise InvalidTransitionError(f"{name} must be a non-empty string")


def _require_upo(invoice_id: int, upo: object) -> None:
    if not isinstance(upo, (bytes, bytearray)) or not upo:
        raise InvalidTransitionError(f"invoice {invoice_id}: UPO must be non-empty bytes")


def _record(row: sqlite3.Row | tuple, xml: bytes | None = None) -> InvoiceRecord:
    (
        id_, series, seq, number, sha256, issue_date, created_at, kod1, kod2, serial, mode, deadline, state,
        print_state, key, req_hash, updated_at, session_ref, inv_ref, ksef_number, upo, rcode, rreason, perr,
        kind, corrects_id,
    ) = row
    return InvoiceRecord(
        id=id_,
        series=series,
        seq=seq,
        number=number,
        sha256=bytes(sha256),
        issue_date=dt.date.fromisoformat(issue_date),
        created_at=dt.datetime.fromisoformat(created_at),
        kod1_url=kod1,
        kod2_url=kod2,
        cert_serial=serial,
        offline_mode=mode,
        deadline=dt.date.fromisoformat(deadline) if deadline else None,
        state=InvoiceState(state),
        print_state=PrintState(print_state),
        idempotency_key=key,
        request_hash=req_hash,
        updated_at=dt.datetime.fromisoformat(updated_at),
        ksef_session_ref=session_ref,
        ksef_invoice_ref=inv_ref,
        ksef_number=ksef_number,
        upo=bytes(upo) if upo is not None else None,
        reject_code=rcode,
        reject_reason=rreason,
        print_error=perr,
        xml=xml,
        kind=kind,
        corrects_id=corrects_id,
    )
