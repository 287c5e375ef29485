"""What the outbox's parts share: its file, the query-only reader, the writer thread, the disk-full alarm.

`OutboxStore` is assembled from parts that each do one job over this base: `outbox_reads.OutboxReads`
(queries), `outbox_transitions.OutboxTransitions` (the state machine), `corrected_files.CorrectedFiles`
(technical corrections' accepted files), and `outbox.OutboxStore` itself (open, recovery, issuance).
"""
from __future__ import annotations

import logging
import sqlite3
from pathlib import Path
from typing import Callable, TypeVar

import aiosqlite

from .records import (
    StorageFullError,
)
from .sqlite_thread import SerialReader, WriterThread, free_bytes, in_transaction, is_disk_full

log = logging.getLogger("ksef_edge.store.outbox")

T = TypeVar("T")


class OutboxBase:
    def __init__(self, path: Path, writer: WriterThread, reader: aiosqlite.Connection) -> None:
        self.path = path
        self._writer = writer
        self._reader = SerialReader(reader)
        self.schema_version = 0
        self.incarnation = 1  # numbering incarnation (store/incarnation.py), read at open
        self.storage_full: StorageFullError | None = None  # the last write failed for lack of space

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
        """`body(conn)` in one BEGIN IMMEDIATE transaction on the writer thread (see `in_transaction`)."""
        return await self._write(lambda conn: in_transaction(conn, body))
