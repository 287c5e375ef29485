"""`[backup]` settings and where the backup passphrase comes from.

The passphrase is read like the key-file passphrase (`keystore.passphrase`): a systemd credential
or a 0600 file owned by the service user, never the TOML or the environment. It must be a
different secret from the key passphrase, and it must also be kept OFF the device (in the shop's
safe or password manager): the device may be what was lost.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..keystore.passphrase import PassphraseSource, read_passphrase
from .errors import ArchiveError

PASSPHRASE_MIN_CHARS = 12
DEFAULT_CREDENTIAL = "ksef-edge-backup"


@dataclass(frozen=True)
class BackupConfig:
    """`[backup]` of the device TOML (built by `config._build_foreign` once config.py knows the section)."""

    dir: Path  # a mounted USB stick or share, e.g. /media/ksef-backup
    keep: int = 14  # newest backups kept in `dir`
    interval_s: float = 3600.0  # scheduled backups while the daemon runs; 0 = on demand only
    alarm_grace_s: float = 7200.0  # unsent invoices may be this long without a backup before the alarm
    passphrase_credential: str | None = DEFAULT_CREDENTIAL
    passphrase_file: Path | None = None
    prune_after_days: int = 0  # 0 = never prune; else confirmed+archived invoices older than this go

    def __post_init__(self) -> None:
        # ValueError "backup.<key>: ..." -> the config loader reports "[backup] <key>: ..."
        if self.keep < 1:
            raise ValueError(f"backup.keep: must be at least 1, not {self.keep}")
        if self.interval_s < 0 or (0 < self.interval_s < 60):
            raise ValueError("backup.interval_s: must be 0 (on demand only) or at least 60 seconds")
        if self.alarm_grace_s < 0:
            raise ValueError("backup.alarm_grace_s: must be >= 0 seconds")
        if self.prune_after_days < 0:
            raise ValueError("backup.prune_after_days: must be 0 (never) or a number of days")
        if self.passphrase_file is None and not self.passphrase_credential:
            raise ValueError(
                "backup.passphrase_file: set passphrase_file (a 0600 file) or passphrase_credential "
                "(systemd LoadCredential= name) for the backup passphrase"
            )

    @property
    def passphrase_source(self) -> PassphraseSource:
        return PassphraseSource(credential=self.passphrase_credential, file=self.passphrase_file)


def backup_passphrase(source: PassphraseSource, *, creating: bool) -> bytes:
    """The backup passphrase; a new backup needs at least `PASSPHRASE_MIN_CHARS` characters."""
    if source.file is None and not source.credential:
        raise ArchiveError(
            "no_passphrase_source",
            "no backup passphrase given: pass --passphrase-file FILE (a 0600 file) or --passphrase-credential NAME",
        )
    passphrase = read_passphrase(source)  # KeyFileError names the file, never the secret
    if creating and len(passphrase.decode("utf-8", "replace")) < PASSPHRASE_MIN_CHARS:
        raise ArchiveError(
            "weak_passphrase",
            f"the backup passphrase in {source.describe()} is shorter than {PASSPHRASE_MIN_CHARS} characters; "
            "use a long random one, e.g. `openssl rand -base64 24`",
        )
    return passphrase
