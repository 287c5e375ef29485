"""Device replacement: move the outbox (invoices, states, numbering position) to a new device.

`migrate_out` seals a snapshot of the stopped old device's outbox into one encrypted file
(the same container as a backup); `migrate_in` restores it (or any backup) as the new device's
outbox. The numbering position is the outbox itself (MAX(seq) per series), so the new device's
next number follows the last one the old device issued; the uplink reads the outbox, so invoices
the old device had not sent (`issued`) are uploaded by the new one, and `sending` ones are looked
up in KSeF first, as after any restart. The private key stays in the old TPM by design: the new
device enrols its own Offline certificate; stored invoices keep their KOD II.
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path

from .backup import BackupInfo, RestoreResult, lock_exclusive, restore_backup, write_sealed_snapshot


def migrate_out(
    db_path: Path, dest: Path, passphrase: bytes, *, force: bool = False, now: dt.datetime | None = None
) -> BackupInfo:
    """Seal the old device's outbox into `dest`; refuses while the daemon has it open.

    Holding the database exclusively for the snapshot guarantees no invoice is issued after it:
    such an invoice would exist only on the old device and its number would be issued again.
    """
    con = lock_exclusive(Path(db_path))
    try:
        return write_sealed_snapshot(Path(db_path), Path(dest), passphrase, kind="migration",
                                     overwrite=force, now=now, source=con)
    finally:
        con.close()


def migrate_in(
    source: Path, passphrase: bytes, target_db: Path, *, force: bool = False, now: dt.datetime | None = None
) -> RestoreResult:
    """Install a migration file (or a backup) as this device's outbox; refuses over invoices unless `force`."""
    return restore_backup(Path(source), passphrase, Path(target_db), force=force, now=now)
