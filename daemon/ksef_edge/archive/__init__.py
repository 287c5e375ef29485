"""Keeping the records: encrypted online backups, archive export, device migration, retention.

Public API (all synchronous; call from the event loop with `asyncio.to_thread`):
- `create_backup(db, dir, passphrase, keep=14) -> BackupInfo`, `list_backups(dir)`, `verify_backup(file, passphrase)`,
  `restore_backup(file, passphrase, target_db, force=False) -> RestoreResult`, `last_good_backup(dir)`,
  `backup_status(db, dir, grace_s=0) -> BackupStatus` (age of the last good backup + the unsent-invoices alarm)
- `export_archive(db, out_dir, date_from=, date_to=) -> ExportResult`
- `migrate_out(db, file, passphrase)`, `migrate_in(file, passphrase, target_db, force=False)`
- `prune_archived(db, older_than_days=N, dry_run=False) -> PruneResult`
- `BackupConfig` (`[backup]` section), `backup_passphrase(source, creating=)`, `schedule.run_backup_schedule(cfg, db)`
"""
from .backup import (
    BackupInfo,
    BackupStatus,
    RestoreResult,
    backup_status,
    create_backup,
    last_good_backup,
    list_backups,
    restore_backup,
    verify_backup,
)
from .errors import ArchiveError, BackupCorruptError, ExportError, RestoreRefusedError, WrongPassphraseError
from .export import ExportResult, export_archive
from .migrate import migrate_in, migrate_out
from .retention import PruneResult, prune_archived
from .settings import BackupConfig, backup_passphrase

__all__ = [
    "ArchiveError",
    "BackupConfig",
    "BackupCorruptError",
    "BackupInfo",
    "BackupStatus",
    "ExportError",
    "ExportResult",
    "PruneResult",
    "RestoreRefusedError",
    "RestoreResult",
    "WrongPassphraseError",
    "backup_passphrase",
    "backup_status",
    "create_backup",
    "export_archive",
    "last_good_backup",
    "list_backups",
    "migrate_in",
    "migrate_out",
    "prune_archived",
    "restore_backup",
    "verify_backup",
]
