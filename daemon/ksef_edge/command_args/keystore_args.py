"""Shared option handling for the key/cert/token commands (lives here, not in commands/, because
every module in commands/ is a command group)."""
from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config import ConfigError, load_config
from ..keystore import KeystoreConfig
from ..keystore.errors import KeystoreError


@dataclass(frozen=True)
class Context:
    keystore: KeystoreConfig
    seller_nip: str | None
    seller_name: str | None


class UsageError(Exception):
    """A command-line problem the user fixes by changing the command."""


def add_keystore_arguments(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("device configuration (flags override the config file)")
    g.add_argument("--config", type=Path, help="device TOML (default: none; use the flags below)")
    g.add_argument("--backend", choices=("tpm", "file"), help="key custody backend")
    g.add_argument("--key-file", type=Path, help="offline key file (TPM-wrapped blob or encrypted PKCS#8)")
    g.add_argument("--cert-file", type=Path, help="installed Offline certificate")
    g.add_argument("--token-file", type=Path, help="encrypted/sealed KSeF token file")
    g.add_argument("--tcti", help="TPM TCTI, e.g. device:/dev/tpmrm0 or swtpm:host=127.0.0.1,port=2321")
    g.add_argument("--passphrase-file", type=Path, help="file holding the key passphrase (mode 0600)")
    g.add_argument("--passphrase-credential", help="systemd credential name holding the key passphrase")
    g.add_argument("--nip", help="seller NIP (default: seller.nip from the config)")


def context_from_args(args: argparse.Namespace) -> Context:
    nip = None
    name = None
    if args.config is not None:
        try:
            config = load_config(args.config)
        except ConfigError as exc:
            raise UsageError(f"config {args.config}: {exc}") from None
        keystore = config.keystore
        if not isinstance(keystore, KeystoreConfig):
            raise UsageError(f"config {args.config}: [keystore] could not be read")
        nip = config.seller.nip
        name = config.seller.name
    else:
        keystore = KeystoreConfig()
    overrides: dict[str, Any] = {}
    for flag, fieldname in (
        ("backend", "backend"),
        ("key_file", "key_path"),
        ("cert_file", "cert_path"),
        ("token_file", "token_path"),
        ("tcti", "tcti"),
        ("passphrase_file", "passphrase_file"),
        ("passphrase_credential", "passphrase_credential"),
    ):
        value = getattr(args, flag, None)
        if value is not None:
            overrides[fieldname] = value
    if overrides:
        keystore = dataclasses.replace(keystore, **overrides)
    if getattr(args, "nip", None):
        nip = args.nip
    return Context(keystore=keystore, seller_nip=nip, seller_name=name)


def require_nip(ctx: Context) -> str:
    if not ctx.seller_nip:
        raise UsageError("the seller NIP is needed: pass --config FILE (seller.nip) or --nip NIP")
    return ctx.seller_nip


def guarded(func: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Expected problems end as one `error:` line and exit code 2, never a traceback."""

    def run(args: argparse.Namespace) -> int:
        try:
            return func(args)
        except (KeystoreError, UsageError) as exc:
            print(f"ksef-edge: error: {exc}", file=sys.stderr)
            return 2
        except OSError as exc:
            print(f"ksef-edge: error: {exc.strerror or exc}: {exc.filename or ''}".rstrip(": "), file=sys.stderr)
            return 2

    return run
