"""Shared options of `ksef-edge backup|export|prune|migrate-out|migrate-in`.

The outbox path comes from `--config` (store.path) or `--db`. Backup settings come from the
config's `[backup]` section once the config loader knows it, else from flags; flags always win.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Callable

from ..archive.errors import ArchiveError
from ..archive.settings import DEFAULT_CREDENTIAL, BackupConfig
from ..config import Config, ConfigError, load_config
from ..keystore.errors import KeystoreError
from ..keystore.passphrase import PassphraseSource


class UsageError(Exception):
    """A missing or contradictory option; exit code 2."""


def add_db_options(p: argparse.ArgumentParser) -> None:
    src = p.add_mutually_exclusive_group()
    src.add_argument("--config", metavar="FILE", help="device TOML (store.path, and [backup] when present)")
    src.add_argument("--db", metavar="FILE", type=Path, help="outbox database, when no config is at hand")


def add_passphrase_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--passphrase-file", type=Path, metavar="FILE",
                   help="file holding the backup passphrase (mode 0600, owned by you)")
    p.add_argument("--passphrase-credential", metavar="NAME",
                   help=f"systemd credential holding it (default with --config: [backup] passphrase_credential, "
                        f"else {DEFAULT_CREDENTIAL!r})")


def load_device(args: argparse.Namespace) -> tuple[Path, Config | None]:
    """(outbox path, config or None if only --db was given)."""
    config = optional_config(args)
    if config is not None:
        return Path(config.store.path), config
    if getattr(args, "db", None):
        return Path(args.db), None
    raise UsageError("say which outbox: --config /etc/ksef-edge/device.toml (or --db FILE)")


def optional_config(args: argparse.Namespace) -> Config | None:
    """The device config if --config was given."""
    if not getattr(args, "config", None):
        return None
    try:
        return load_config(args.config)
    except ConfigError as exc:
        raise UsageError(f"config error: {exc}") from None


def backup_config(config: Config | None) -> BackupConfig | None:
    return config.backup if config is not None else None


def passphrase_source(args: argparse.Namespace, cfg: BackupConfig | None) -> PassphraseSource:
    if args.passphrase_file is not None:
        return PassphraseSource(file=args.passphrase_file)
    if args.passphrase_credential:
        return PassphraseSource(credential=args.passphrase_credential)
    if cfg is not None:
        return cfg.passphrase_source
    return PassphraseSource(credential=DEFAULT_CREDENTIAL)


def run(prog: str, body: Callable[[], int]) -> int:
    """One actionable line on stderr for every expected failure; never a traceback, never a secret."""
    try:
        return body()
    except UsageError as exc:
        print(f"ksef-edge {prog}: {exc}", file=sys.stderr)
        return 2
    except (ArchiveError, KeystoreError) as exc:
        print(f"ksef-edge {prog}: {exc.message}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"ksef-edge {prog}: {exc.filename or ''} {exc.strerror or exc}".strip(), file=sys.stderr)
        return 1
