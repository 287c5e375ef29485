"""A retired outbox: `migrate-out` moved it to a new device, so this device must never issue again.

Two tills issuing in one series would hand out the same numbers (P_2): KSeF rejects the second as a
duplicate and the numbering is no longer gapless. The marker lives inside the database (table
`device_state`, store migration v5) so it survives reboots, re-installs and config changes; it is
written after the migration file is sealed, so it never travels with the outbox, and `migrate-in`
clears it anyway (a retired outbox brought back on purpose).
"""
from __future__ import annotations

import datetime as dt
import sqlite3
from dataclasses import dataclass

from .records import StoreError

# `ksef-edge run` exits with this (EX_CONFIG) on a retired outbox; the unit's RestartPreventExitStatus=
# names it, so systemd does not restart the daemon every 2 s.
EXIT_RETIRED = 78


@dataclass(frozen=True)
class Retirement:
    retired_at: dt.datetime
    retired_to: str  # the migration file written by migrate-out

    def message(self) -> str:
        when = self.retired_at.astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        return (
            f"this outbox was moved to a new device with `ksef-edge migrate-out` on {when} ({self.retired_to}); "
            "this device must not issue or upload invoices any more (the new device continues the numbering) "
            "- re-provision it, or use `ksef-edge migrate-in` to bring an outbox back"
        )


class OutboxRetiredError(StoreError):
    """The outbox was moved to another device by migrate-out; refusing to issue or start."""

    def __init__(self, retirement: Retirement) -> None:
        super().__init__(retirement.message())
        self.retirement = retirement


def _has_table(con: sqlite3.Connection) -> bool:
    return con.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'device_state'"
    ).fetchone() is not None


def read_retirement(con: sqlite3.Connection) -> Retirement | None:
    """The retirement marker, or None (also for a schema before v5, which cannot have one)."""
    if not _has_table(con):
        return None
    row = con.execute("SELECT retired_at, retired_to FROM device_state WHERE id = 1").fetchone()
    return Retirement(dt.datetime.fromisoformat(row[0]), row[1]) if row else None


def check_not_retired(con: sqlite3.Connection) -> None:
    retirement = read_retirement(con)
    if retirement is not None:
        raise OutboxRetiredError(retirement)


def retire(con: sqlite3.Connection, retired_to: str, at: dt.datetime) -> None:
    """Mark the outbox retired (schema v5+; the caller migrates first), in its own transaction."""
    if at.tzinfo is None:
        raise ValueError("timestamps must be timezone-aware")
    con.execute("BEGIN IMMEDIATE")
    try:
        con.execute(
            "INSERT OR REPLACE INTO device_state (id, retired_at, retired_to) VALUES (1, ?, ?)",
            (at.astimezone(dt.timezone.utc).isoformat(timespec="seconds"), retired_to),
        )
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


def clear_retirement(con: sqlite3.Connection) -> bool:
    """Remove the marker (migrate-in installs an outbox this device will issue from); True if there was one."""
    if not _has_table(con):
        return False
    return con.execute("DELETE FROM device_state WHERE id = 1").rowcount > 0


__all__ = ["EXIT_RETIRED", "OutboxRetiredError", "Retirement", "check_not_retired", "clear_retirement",
           "read_retirement", "retire"]
