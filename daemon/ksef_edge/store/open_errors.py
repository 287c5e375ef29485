"""Why the outbox cannot be opened at start, in words a shop technician can act on.

SQLite's own messages ("unable to open database file", "file is not a database") name neither the
file nor the fix; the daemon refuses to start on them, so the message is all systemd's status shows.
Every refusal leaves the file untouched: it may be the only copy of the invoices.
"""
from __future__ import annotations

import os
from pathlib import Path

from .records import IntegrityCheckError, StoreError

SQLITE_CORRUPT = 11
SQLITE_NOTADB = 26


class StoreOpenError(StoreError):
    """The outbox file or its directory cannot be used (read-only, no permission, not a database)."""


def _read_only_filesystem(directory: Path) -> bool:
    try:
        return bool(os.statvfs(directory).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def open_error(path: Path, exc: BaseException) -> StoreError:
    """The `StoreError` to raise for `exc` (an sqlite3.Error or OSError) met while opening `path`."""
    directory = path.parent
    code = getattr(exc, "sqlite_errorcode", None)
    primary = code & 0xFF if isinstance(code, int) else None
    untouched = "nothing was changed"
    if directory.is_dir() and _read_only_filesystem(directory):
        return StoreOpenError(
            f"cannot open the invoice database {path}: the filesystem holding {directory} is read-only "
            "(e.g. remounted read-only after disk errors); check the disk (`dmesg`, fsck) or replace the card, "
            f"make it writable again (`mount -o remount,rw` on its mount point), then restart ksef-edge; {untouched}")
    if path.exists() and not os.access(path, os.W_OK):
        return StoreOpenError(
            f"cannot open the invoice database {path}: the file is read-only for this user; give the service "
            f"user write access (`chown ksef-edge: {path}` and `chmod 600 {path}`), then restart; {untouched}")
    if directory.is_dir() and not os.access(directory, os.W_OK | os.X_OK):
        return StoreOpenError(
            f"cannot open the invoice database {path}: the directory {directory} is not writable for this user "
            f"(SQLite keeps its -wal and -shm files beside the database); give the service user write access "
            f"(`chown ksef-edge: {directory}`), then restart; {untouched}")
    if primary == SQLITE_NOTADB or "file is not a database" in str(exc):
        return IntegrityCheckError(
            f"{path} is not an SQLite database (a wrong file restored, or a zeroed or damaged card); it was left "
            "untouched: restore the latest backup (`ksef-edge backup restore FILE`) to this path, then restart")
    if primary == SQLITE_CORRUPT or "malformed" in str(exc):
        return IntegrityCheckError(
            f"database {path} is damaged ({exc}); it was left untouched: stop the service and restore the latest "
            "backup (`ksef-edge backup restore FILE`)")
    if isinstance(exc, OSError):
        return StoreOpenError(f"cannot create the directory of the invoice database {path}: {exc}")
    return StoreOpenError(f"cannot open the invoice database {path}: {exc}")


__all__ = ["StoreOpenError", "open_error"]
