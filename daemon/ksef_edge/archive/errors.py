"""Errors of the records layer (backup, export, migration, retention).

Each names the problem and the fix in words an installer understands, and never contains a
passphrase or key material. `code` is stable for tests and status pages.
"""
from __future__ import annotations


class ArchiveError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class WrongPassphraseError(ArchiveError):
    """The passphrase does not open this backup (or the backup's header was altered)."""


class BackupCorruptError(ArchiveError):
    """The backup file is damaged, truncated or was tampered with: its authentication failed."""


class RestoreRefusedError(ArchiveError):
    """Restoring would overwrite invoices, or the database is in use by a running daemon."""


class ExportError(ArchiveError):
    """The archive export could not be written, or a stored invoice does not match its hash."""
