"""Where the key-file passphrase comes from: a systemd credential or a dedicated file.

Never from the config text or an environment variable's *contents*: config files get copied into
tickets and backups, and environments leak into /proc and crash reports. systemd's
`LoadCredential=`/`LoadCredentialEncrypted=` places the secret in `$CREDENTIALS_DIRECTORY/<name>`
(only the service can read it); the variable itself holds just a directory path.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .errors import KeyFileError
from .files import check_private_file


@dataclass(frozen=True)
class PassphraseSource:
    """Either a systemd credential name or an explicit file path (the file wins if both are set)."""

    credential: str | None = None
    file: Path | None = None

    def describe(self) -> str:
        if self.file is not None:
            return f"passphrase file {self.file}"
        if self.credential:
            return f"systemd credential '{self.credential}'"
        return "no passphrase source"


def read_passphrase(source: PassphraseSource) -> bytes:
    """The passphrase bytes (one trailing newline stripped). Errors name the source, never the secret."""
    path = _resolve(source)
    check_private_file(path, "passphrase file")
    data = path.read_bytes()
    if data.endswith(b"\r\n"):
        data = data[:-2]
    elif data.endswith(b"\n"):
        data = data[:-1]
    if not data:
        raise KeyFileError("empty_passphrase", f"{source.describe()} ({path}) is empty; put a long random passphrase in it")
    return data


def _resolve(source: PassphraseSource) -> Path:
    if source.file is not None:
        return Path(source.file)
    if source.credential:
        if "/" in source.credential or source.credential in (".", ".."):
            raise KeyFileError("bad_credential_name", f"credential name {source.credential!r} must be a plain name")
        cred_dir = os.environ.get("CREDENTIALS_DIRECTORY")
        if not cred_dir:
            raise KeyFileError(
                "no_credentials_directory",
                f"the key passphrase comes from systemd credential '{source.credential}', but "
                "$CREDENTIALS_DIRECTORY is not set: run under systemd with "
                f"`LoadCredential={source.credential}:/etc/ksef-edge/{source.credential}` "
                "(or LoadCredentialEncrypted=), or pass --passphrase-file",
            )
        return Path(cred_dir) / source.credential
    raise KeyFileError(
        "no_passphrase_source",
        "no passphrase source configured for the key file: set keystore.passphrase_credential "
        "(systemd LoadCredential=) or keystore.passphrase_file in the config, or pass --passphrase-file",
    )
