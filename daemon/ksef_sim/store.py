"""Persistence of simulator state: in memory by default, or a SQLite file in --state DIR
(write-through on every change, so a killed simulator restarts where it stopped)."""
from __future__ import annotations

import dataclasses
import json
import sqlite3
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


class Store:
    def __init__(self, directory: Path | None) -> None:
        self.directory = directory
        self._blobs: dict[str, bytes] = {}
        self._conn: sqlite3.Connection | None = None
        self._depth = 0
        if directory is not None:
            directory.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(directory / "ksef-sim.sqlite3", isolation_level=None)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.execute("CREATE TABLE IF NOT EXISTS records (kind TEXT NOT NULL, key TEXT NOT NULL,"
                               " data TEXT NOT NULL, PRIMARY KEY (kind, key))")
            self._conn.execute("CREATE TABLE IF NOT EXISTS blobs (name TEXT PRIMARY KEY, data BLOB NOT NULL)")

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Group many writes into one commit (a batch of 10 000 invoices)."""
        if self._conn is None:
            yield
            return
        if self._depth == 0:
            self._conn.execute("BEGIN")
        self._depth += 1
        try:
            yield
        except BaseException:
            self._depth -= 1
            if self._depth == 0:
                self._conn.execute("ROLLBACK")
            raise
        self._depth -= 1
        if self._depth == 0:
            self._conn.execute("COMMIT")

    def put(self, kind: str, key: str, record: object) -> None:
        if self._conn is None:
            return
        data = record if isinstance(record, dict) else dataclasses.asdict(record)
        self._conn.execute("INSERT OR REPLACE INTO records (kind, key, data) VALUES (?, ?, ?)",
                           (kind, key, json.dumps(data, ensure_ascii=False)))

    def load(self, kind: str) -> list[dict]:
        if self._conn is None:
            return []
        rows = self._conn.execute("SELECT data FROM records WHERE kind = ? ORDER BY rowid", (kind,))
        return [json.loads(r[0]) for r in rows]

    def put_blob(self, name: str, data: bytes) -> None:
        if self._conn is None:
            self._blobs[name] = data
        else:
            self._conn.execute("INSERT OR REPLACE INTO blobs (name, data) VALUES (?, ?)", (name, data))

    def get_blob(self, name: str) -> bytes | None:
        if self._conn is None:
            return self._blobs.get(name)
        row = self._conn.execute("SELECT data FROM blobs WHERE name = ?", (name,)).fetchone()
        return None if row is None else bytes(row[0])

    def clear(self) -> None:
        self._blobs.clear()
        if self._conn is not None:
            self._conn.execute("DELETE FROM records")
            self._conn.execute("DELETE FROM blobs")

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
