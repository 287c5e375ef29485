"""`ksef-edge migrate-out FILE` / `ksef-edge migrate-in FILE`: move the outbox to a replacement device.

Out: on the old device, daemon stopped; seals invoices, states and the numbering position into
one encrypted file. In: on the new device, daemon stopped; installs it as the outbox (refuses over
existing invoices unless --force). The new device enrols its own Offline certificate first
(docs/records.md, "Device replacement").
"""
from __future__ import annotations

import argparse
from pathlib import Path

from ..archive.restore_cli import (
    add_other_device_option,
    expected_identity,
    print_numbering,
)
from ..command_args.archive_args import (
    add_db_options,
    add_passphrase_options,
    backup_config,
    load_device,
    passphrase_source,
    run,
)


def register(sub: argparse._SubParsersAction) -> None:
    out = sub.add_parser("migrate-out", help="old device: seal the outbox into FILE for a replacement device")
    out.add_argument("file", type=Path, metavar="FILE", help="file to write (e.g. on a USB stick)")
    add_db_options(out)
    out.add_argument("--force", action="store_true", help="replace FILE if it exists")
    add_passphrase_options(out)
    out.set_defaults(func=lambda a: run("migrate-out", lambda: _out(a)))

    inn = sub.add_parser("migrate-in", help="new device: install the outbox from a migrate-out FILE (or a backup)")
    inn.add_argument("file", type=Path, metavar="FILE", help="migration file or backup (.kebak)")
    add_db_options(inn)
    inn.add_argument("--force", action="store_true",
                     help="replace an outbox that already holds invoices (kept next to it as .replaced-*)")
    add_other_device_option(inn)
    add_passphrase_options(inn)
    inn.set_defaults(func=lambda a: run("migrate-in", lambda: _in(a)))


def _out(args: argparse.Namespace) -> int:
    from ..archive import backup_passphrase, migrate_out

    db, config = load_device(args)
    passphrase = backup_passphrase(passphrase_source(args, backup_config(config)), creating=True)
    info = migrate_out(db, args.file, passphrase, force=args.force)
    f = info.facts
    print(f"wrote {info.path}: {f.invoices} invoices, {f.unsent} not yet in KSeF")
    for series, seq in sorted(f.series.items()):
        print(f"series {series}: last number {seq}")
    print(f"{db} is now retired: the daemon on this device refuses to start on it (the new device continues "
          "the numbering); disable it too: `systemctl disable --now ksef-edge`")
    return 0


def _in(args: argparse.Namespace) -> int:
    from ..archive import backup_passphrase, migrate_in

    db, config = load_device(args)
    passphrase = backup_passphrase(passphrase_source(args, backup_config(config)), creating=False)
    result = migrate_in(args.file, passphrase, db, force=args.force, expected=expected_identity(config),
                        allow_other_device=args.other_device)
    f = result.backup.facts
    print(f"installed {f.invoices} invoices into {result.target} ({f.unsent} to be uploaded by this device)")
    if result.replaced:
        print(f"the previous outbox was kept as {result.replaced}")
    print_numbering(result, config)
    return 0
