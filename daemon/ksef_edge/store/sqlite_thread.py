"""SQLite plumbing of the outbox: one writer thread with its own connection, one serialised reader.

Every write runs on ONE dedicated thread with its own `sqlite3` connection (`WriterThread`): a whole
transaction is a single function handed to that thread, so it costs one event loop <-> thread
hand-off instead of one per statement, and the thread itself serialises the writes. A second,
query-only aiosqlite connection (`SerialReader`) serves reads, so a reader never sees a row whose
transaction may still roll back. Nothing here knows what an invoice is.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Iterable, TypeVar

import aiosqlite

from .records import (
    IntegrityCheckError,
)

log = logging.getLogger("ksef_edge.store.outbox")

SQLITE_FULL = 13  # primary result code: "database or disk is full"

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


async def connect_reader(path: Path, busy_timeout_ms: int) -> aiosqlite.Connection:
    conn = await aiosqlite.connect(str(path), isolation_level=None)
    try:
        for pragma in _pragmas(busy_timeout_ms):
            async with conn.execute(pragma) as cur:
                row = await cur.fetchone()
            if "journal_mode" in pragma:
                _check_wal(path, row[0] if row is not None else None)
        await conn.execute("PRAGMA query_only = ON")
    except BaseException:
        await conn.close()
        raise
    return conn


def connect_writer(path: Path, busy_timeout_ms: int) -> sqlite3.Connection:
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


def quick_check(conn: sqlite3.Connection, path: Path) -> None:
    rows = [r[0] for r in conn.execute("PRAGMA quick_check").fetchall()]
    if rows != ["ok"]:
        raise IntegrityCheckError(
            f"database {path} failed PRAGMA quick_check ({rows[0] if rows else 'no result'}); "
            "stop the service and restore the latest backup"
        )


def in_transaction(conn: sqlite3.Connection, body: Callable[[sqlite3.Connection], T]) -> T:
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


class WriterThread:
    """The one write connection and the one thread that uses it."""

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="outbox-writer")
        self._conn: sqlite3.Connection | None = None

    async def connect(self, path: Path, busy_timeout_ms: int) -> None:
        self._conn = await self._call(connect_writer, path, busy_timeout_ms)

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


class SerialReader:
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
