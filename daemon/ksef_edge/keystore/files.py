"""Private files on disk: created 0600 atomically, refused when group/other can read them."""
from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

from .errors import KeyFileError


def check_private_file(path: Path, what: str) -> None:
    """Refuse a secret file that is missing, not a regular file, readable by others or owned by someone else."""
    try:
        st = path.stat()
    except FileNotFoundError:
        raise KeyFileError("missing_file", f"{what} {path} does not exist") from None
    except PermissionError:
        raise KeyFileError(
            "unreadable_file", f"{what} {path} cannot be read by this user: check its owner (chown) and mode"
        ) from None
    if not stat.S_ISREG(st.st_mode):
        raise KeyFileError("not_a_file", f"{what} {path} is not a regular file")
    if st.st_mode & 0o077:
        raise KeyFileError(
            "file_permissions",
            f"{what} {path} is readable by other users (mode {stat.S_IMODE(st.st_mode):04o}); "
            f"run `chmod 600 {path}` and keep it owned by the service user",
        )
    if st.st_uid != os.geteuid():
        raise KeyFileError(
            "file_owner",
            f"{what} {path} is owned by uid {st.st_uid}, not by the service user (uid {os.geteuid()}); "
            f"run `chown <service user> {path}`",
        )


def write_private_file(path: Path, data: bytes, *, overwrite: bool, what: str, mode: int = 0o600) -> None:
    """Write `data` with `mode` via a temp file + rename, so a crash never leaves half a key.

    Without `overwrite`, an existing file is never replaced (losing the offline key would orphan the
    certificate KSeF issued for it).
    """
    if path.exists() and not overwrite:
        raise KeyFileError(
            "already_exists", f"{what} {path} already exists; refusing to replace it (use --force to replace)"
        )
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        if not overwrite:
            # link() fails if the name appeared meanwhile: never clobber a concurrent writer's key.
            try:
                os.link(tmp, path)
            except FileExistsError:
                raise KeyFileError(
                    "already_exists", f"{what} {path} already exists; refusing to replace it (use --force)"
                ) from None
            os.unlink(tmp)
        else:
            os.replace(tmp, path)
        dir_fd = os.open(path.parent, os.O_DIRECTORY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
