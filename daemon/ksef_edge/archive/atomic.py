"""Files that appear whole or not at all: temp file + fsync + rename + directory fsync.

A backup on a USB stick or an archive on a share must survive a power cut mid-write: a reader
either sees the previous state or the complete new file, never half of one.
"""
from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Iterator


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def private_temp(directory: Path, prefix: str) -> Iterator[Path]:
    """A 0600 temp file path in `directory` (same filesystem as the final name), removed on exit."""
    directory.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=prefix, dir=directory)
    os.fchmod(fd, 0o600)
    os.close(fd)
    path = Path(name)
    try:
        yield path
    finally:
        for leftover in (path, Path(f"{path}-journal"), Path(f"{path}-wal"), Path(f"{path}-shm")):
            leftover.unlink(missing_ok=True)


@contextmanager
def atomic_writer(final: Path, *, overwrite: bool = False, mode: int = 0o600) -> Iterator[BinaryIO]:
    """Write `final` through a hidden temp file; it appears (fsynced) only if the block succeeds.

    Without `overwrite`, an existing `final` is never replaced (link() fails if the name exists).
    """
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        publish(Path(tmp), final, overwrite=overwrite)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def publish(tmp: Path, final: Path, *, overwrite: bool) -> None:
    """Give a finished, fsynced temp file its final name, then make the rename durable."""
    if overwrite:
        os.replace(tmp, final)
    else:
        os.link(tmp, final)  # FileExistsError if the name is taken
        os.unlink(tmp)
    fsync_dir(final.parent)


def write_file(final: Path, data: bytes, *, overwrite: bool = False, mode: int = 0o600) -> None:
    with atomic_writer(final, overwrite=overwrite, mode=mode) as f:
        f.write(data)
