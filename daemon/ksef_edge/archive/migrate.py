"""Device replacement: move the outbox (invoices, states, numbering position) to a new device.

`migrate_out` seals a snapshot of the stopped old device's outbox into one encrypted file
(the same container as a backup) and then retires the old outbox (`store.retirement`): its daemon,
uplink and issuance refuse it from then on, so two tills never issue in one series. `migrate_in`
restores the file (or any backup) as the new device's outbox, never retired. The numbering position
is the outbox itself (MAX(seq) per series), so the new device's next number follows the last one the
old device issued; the uplink reads the outbox, so invoices the old device had not sent (`issued`)
are uploaded by the new one, and `sending` ones are looked up in KSeF first, as after any restart.
The private key stays in the old TPM by design: the new device enrols its own Offline certificate;
stored invoices keep their KOD II.
"""
from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path

from ..store.migrations import migrate_sync
from ..store.retirement import clear_retirement, retire
from .backup import (
    BackupInfo,
    RestoreResult,
    lock_exclusive,
    restore_backup,
    utc_now,
    write_sealed_snapshot,
)
from .errors import ArchiveError
from .restore_policy import DeviceIdentity


def migrate_out(
    db_path: Path, dest: Path, passphrase: bytes, *, force: bool = False, now: dt.datetime | None = None
) -> BackupInfo:
    """Seal the old device's outbox into `dest`, then retire it; refuses while the daemon has it open.

    Holding the database exclusively from the snapshot to the retirement guarantees no invoice is
    issued after it: such an invoice would exist only on the old device and its number would be
    issued again. The marker is written after the file, so it does not travel with the outbox.
    """
    now = now or utc_now()
    con = lock_exclusive(Path(db_path))
    try:
        info = write_sealed_snapshot(Path(db_path), Path(dest), passphrase, kind="migration",
                                     overwrite=force, now=now, source=con)
        try:
            migrate_sync(con)  # device_state exists from schema v5 on
            retire(con, str(Path(dest).resolve()), now)
        except (sqlite3.Error, OSError) as exc:
            raise ArchiveError(
                "retire",
                f"{info.path} was written, but marking {db_path} as moved failed ({exc}); do NOT start the "
                "daemon on this device (`systemctl disable --now ksef-edge`) and run migrate-out again",
            ) from None
        return info
    finally:
        con.close()


def _clear_marker(db: Path) -> None:
    con = sqlite3.connect(str(db), isolation_level=None)
    try:
        clear_retirement(con)
    finally:
        con.close()


def migrate_in(
    source: Path, passphrase: bytes, target_db: Path, *, force: bool = False, now: dt.datetime | None = None,
    expected: DeviceIdentity | None = None, allow_other_device: bool = False,
) -> RestoreResult:
    """Install a migration file (or a backup) as this device's outbox, not retired; refuses over
    invoices unless `force`, and another device's records unless `allow_other_device`."""
    return restore_backup(Path(source), passphrase, Path(target_db), force=force, now=now, prepare=_clear_marker,
                          expected=expected, allow_other_device=allow_other_device)
