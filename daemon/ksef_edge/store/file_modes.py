"""The outbox and its WAL/SHM files are private to the service user (0600), whatever the umask.

WHY: outside the systemd unit (UMask=0077) a default umask of 022 made SQLite create the database,
which holds every buyer's name and NIP, world-readable. SQLite gives the -wal and -shm files the
mode of the database file, so creating the database 0600 first covers them; `tighten` fixes files
left more open by an earlier version.
"""
from __future__ import annotations

import os
import stat
from pathlib import Path

DATABASE_MODE = 0o600
SIDECARS = ("-wal", "-shm", "-journal")


def create_private(path: Path) -> None:
    """Create the database file 0600 when it does not exist yet (SQLite then writes into it)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, DATABASE_MODE)
    except FileExistsError:
        return
    try:
        os.fchmod(fd, DATABASE_MODE)  # the umask may have taken bits away; never added, but be exact
    finally:
        os.close(fd)


def tighten(path: Path) -> None:
    """Remove group/other access from the database and its sidecars (an owner keeps its own bits)."""
    for p in (path, *(path.with_name(path.name + s) for s in SIDECARS)):
        try:
            mode = stat.S_IMODE(p.stat().st_mode)
            if mode & 0o077:
                os.chmod(p, mode & 0o700)
        except FileNotFoundError:
            continue
