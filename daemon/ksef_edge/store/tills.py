"""Named tills: each POS has its own token (stored as SHA-256 only), revocable on its own, at once.

WHY: one shared token meant a lost tablet could not be locked out without re-configuring every till,
and no invoice said which till issued it. The daemon looks each request's token up here (one
indexed read on its own connection), so `ksef-edge till revoke` in another process takes effect on
the next request. Tokens are 32 random bytes, so a plain SHA-256 is enough to store them.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from .migrations import migrate_sync

TILL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,31}", re.ASCII)


class TillError(Exception):
    """A till command cannot proceed; the message says what to do."""


@dataclass(frozen=True)
class Till:
    name: str
    created_at: str
    revoked_at: str | None


def token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8")).digest()


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


class TillRegistry:
    """Over the outbox file; safe beside the daemon (WAL, short transactions)."""

    def __init__(self, con: sqlite3.Connection) -> None:
        self._con = con

    @classmethod
    def open(cls, db: Path, *, migrate: bool = False) -> TillRegistry:
        con = sqlite3.connect(str(db), isolation_level=None, timeout=5, check_same_thread=False)
        con.execute("PRAGMA busy_timeout = 5000")
        if migrate:
            migrate_sync(con)
        return cls(con)

    def close(self) -> None:
        self._con.close()

    def add(self, name: str) -> str:
        """A new till; returns its token (shown once, never stored)."""
        if not TILL_NAME.fullmatch(name):
            raise TillError(f"{name!r}: a till name is 1-32 letters, digits, '.', '_' or '-', e.g. KASA2")
        token = secrets.token_urlsafe(32)
        try:
            self._con.execute("INSERT INTO tills (name, token_sha256, created_at) VALUES (?, ?, ?)",
                              (name, token_hash(token), _now()))
        except sqlite3.IntegrityError:
            raise TillError(f"a till named {name} already exists (revoked ones keep their name)") from None
        return token

    def adopt(self, name: str, token: str) -> bool:
        """The config's token is till `name` ([device] pos_id): added once, follows a rotated token file,
        and a revoked `name` stays revoked. True when the registry changed."""
        digest = token_hash(token)
        self._con.execute("BEGIN IMMEDIATE")
        try:
            row = self._con.execute("SELECT token_sha256, revoked_at FROM tills WHERE name = ?", (name,)).fetchone()
            taken = self._con.execute("SELECT name FROM tills WHERE token_sha256 = ?", (digest,)).fetchone()
            changed = False
            if taken is None and row is None:
                self._con.execute("INSERT INTO tills (name, token_sha256, created_at) VALUES (?, ?, ?)",
                                  (name, digest, _now()))
                changed = True
            elif taken is None and row is not None and row[1] is None:  # the token file was rotated
                self._con.execute("UPDATE tills SET token_sha256 = ? WHERE name = ?", (digest, name))
                changed = True
            self._con.execute("COMMIT")
            return changed
        except BaseException:
            self._con.execute("ROLLBACK")
            raise

    def revoke(self, name: str) -> None:
        cur = self._con.execute("UPDATE tills SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL", (_now(), name))
        if cur.rowcount == 0:
            known = self._con.execute("SELECT revoked_at FROM tills WHERE name = ?", (name,)).fetchone()
            raise TillError(f"till {name} is already revoked" if known else f"no till named {name}; see `ksef-edge till list`")

    def list(self) -> list[Till]:
        return [Till(*row) for row in self._con.execute("SELECT name, created_at, revoked_at FROM tills ORDER BY name")]

    def authenticate(self, token: str) -> str | None:
        """The name of the active till holding `token`, else None."""
        row = self._con.execute("SELECT name FROM tills WHERE token_sha256 = ? AND revoked_at IS NULL",
                                (token_hash(token),)).fetchone()
        return row[0] if row else None

    def till_of(self, invoice_id: int) -> str | None:
        row = self._con.execute("SELECT till FROM invoice_tills WHERE invoice_id = ?", (invoice_id,)).fetchone()
        return row[0] if row else None


def tills_by_invoice(con: sqlite3.Connection) -> dict[int, str]:
    """invoice id -> till name, for exports; empty for an outbox from before named tills."""
    try:
        return dict(con.execute("SELECT invoice_id, till FROM invoice_tills").fetchall())
    except sqlite3.OperationalError:  # no such table: an outbox older than migration 7
        return {}
