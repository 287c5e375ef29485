"""Provisioning's secrets as systemd credentials, with no plain-text copy left behind.

WHY: provisioning used to write each secret (key passphrase, POS API token) to a file, encrypt it
with `systemd-creds encrypt` into `NAME.cred` and leave the original on disk, so the encryption
protected nothing. Now a new secret is generated in memory and piped straight into
`systemd-creds encrypt`; an existing plain file is encrypted, then overwritten and removed. A step
that needs a secret (key generation) gets it decrypted into a private directory in RAM that is
removed when the step ends.
"""
from __future__ import annotations

import os
import secrets
import shutil
import subprocess
from pathlib import Path


class CredentialError(Exception):
    """`systemd-creds` failed; the message says what to do."""


def systemd_creds_available() -> bool:
    return shutil.which("systemd-creds") is not None


def _run(cmd: list[str], *, stdin: bytes | None = None) -> bytes:
    proc = subprocess.run(cmd, input=stdin, capture_output=True, check=False)
    if proc.returncode != 0:
        raise CredentialError(f"{cmd[0]} {cmd[1]} failed: {proc.stderr.decode(errors='replace').strip()}")
    return proc.stdout


def shred(path: Path) -> None:
    """Overwrite a small secret file with zeros, flush it, then remove it."""
    size = path.stat().st_size
    with open(path, "r+b", buffering=0) as f:
        f.write(b"\0" * size)
        os.fsync(f.fileno())
    path.unlink()


def encrypt_new(cred: Path, name: str) -> None:
    """A fresh random secret, encrypted as `cred`; it never touches the disk in plain text."""
    value = (secrets.token_urlsafe(32) + "\n").encode()
    tmp = cred.with_name(cred.name + ".tmp")
    _run(["systemd-creds", "encrypt", f"--name={name}", "-", str(tmp)], stdin=value)
    os.chmod(tmp, 0o600)
    os.replace(tmp, cred)


def encrypt_existing(plain: Path, cred: Path, name: str) -> None:
    """Encrypt `plain` into `cred`, check it decrypts to the same bytes, then shred `plain`."""
    tmp = cred.with_name(cred.name + ".tmp")
    _run(["systemd-creds", "encrypt", f"--name={name}", str(plain), str(tmp)])
    if _run(["systemd-creds", "decrypt", f"--name={name}", str(tmp), "-"]) != plain.read_bytes():
        tmp.unlink()
        raise CredentialError(f"{tmp} does not decrypt to {plain}; the plain file is kept")
    os.chmod(tmp, 0o600)
    os.replace(tmp, cred)
    shred(plain)


def decrypt_into(cred: Path, name: str, dest: Path) -> None:
    """`cred` decrypted to `dest` (0400), for one provisioning step's private credentials directory."""
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o400)
    with os.fdopen(fd, "wb") as f:
        f.write(_run(["systemd-creds", "decrypt", f"--name={name}", str(cred), "-"]))


def private_tmp_base() -> str | None:
    """A RAM-backed directory for decrypted copies when there is one (/dev/shm), else the default."""
    shm = Path("/dev/shm")
    return str(shm) if shm.is_dir() and os.access(shm, os.W_OK) else None
