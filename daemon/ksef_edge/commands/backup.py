"""`ksef-edge backup create|list|verify|restore|status`: encrypted online backups of the outbox.

`create` is safe while the daemon runs (SQLite online backup API); `restore` needs the daemon
stopped and refuses to replace invoices without `--force`. See docs/records.md.
"""
from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path

from ..archive.restore_cli import (
    add_other_device_option,
    expected_identity,
    print_numbering,
)
from ..archive.settings import BackupConfig
from ..command_args.archive_args import (
    UsageError,
    add_db_options,
    add_passphrase_options,
    backup_config,
    load_device,
    optional_config,
    passphrase_source,
    run,
)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("backup", help="encrypted backups of the outbox: create, list, verify, restore, status")
    cmds = p.add_subparsers(dest="backup_command", metavar="ACTION", required=True)

    c = cmds.add_parser("create", help="back up now (safe while the daemon runs)")
    add_db_options(c)
    c.add_argument("--dir", type=Path, help="backup directory (default: [backup] dir)")
    c.add_argument("--keep", type=int, help="keep this many newest backups (default: [backup] keep, else 14)")
    add_passphrase_options(c)
    c.set_defaults(func=lambda a: run("backup create", lambda: _create(a)))

    ls = cmds.add_parser("list", help="backups in the directory, newest first (no passphrase needed)")
    add_db_options(ls)
    ls.add_argument("--dir", type=Path, help="backup directory (default: [backup] dir)")
    ls.set_defaults(func=lambda a: run("backup list", lambda: _list(a)))

    v = cmds.add_parser("verify", help="decrypt a backup completely and check the database inside")
    v.add_argument("file", type=Path, help="backup file (.kebak)")
    add_db_options(v)
    add_passphrase_options(v)
    v.set_defaults(func=lambda a: run("backup verify", lambda: _verify(a)))

    r = cmds.add_parser("restore", help="restore a backup as the outbox (stop the daemon first)")
    r.add_argument("file", type=Path, help="backup file (.kebak)")
    add_db_options(r)
    r.add_argument("--force", action="store_true",
                   help="replace an outbox that holds invoices (it is kept next to it as .replaced-*)")
    add_other_device_option(r)
    add_passphrase_options(r)
    r.set_defaults(func=lambda a: run("backup restore", lambda: _restore(a)))

    st = cmds.add_parser("status", help="age of the last good backup; exit 3 when unsent invoices are not backed up")
    add_db_options(st)
    st.add_argument("--dir", type=Path, help="backup directory (default: [backup] dir)")
    st.add_argument("--grace", type=float, help="seconds an unsent invoice may wait for a backup (default: [backup])")
    st.set_defaults(func=lambda a: run("backup status", lambda: _status(a)))


def _dir(args: argparse.Namespace, cfg: BackupConfig | None) -> Path:
    if args.dir is not None:
        return args.dir
    if cfg is not None:
        return cfg.dir
    raise UsageError("say where backups go: --dir /media/ksef-backup (or [backup] dir in the config)")


def _create(args: argparse.Namespace) -> int:
    from ..archive import backup_passphrase, create_backup

    db, config = load_device(args)
    cfg = backup_config(config)
    keep = args.keep if args.keep is not None else (cfg.keep if cfg else 14)
    if keep < 1:
        raise UsageError("--keep must be at least 1")
    passphrase = backup_passphrase(passphrase_source(args, cfg), creating=True)
    info = create_backup(db, _dir(args, cfg), passphrase, keep=keep)
    f = info.facts
    print(f"backup written: {info.path} ({info.size} bytes; {f.invoices} invoices, {f.unsent} not yet in KSeF)")
    return 0


def _list(args: argparse.Namespace) -> int:
    from ..archive import list_backups

    config = optional_config(args)
    directory = _dir(args, backup_config(config))
    backups = list_backups(directory)
    if not backups:
        print(f"no backups in {directory}")
        return 0
    for b in backups:
        when = b.created_at.isoformat(timespec="seconds") if b.created_at else "?"
        if b.problem:
            print(f"{b.path.name}  {when}  DAMAGED: {b.problem}")
        else:
            print(f"{b.path.name}  {when}  {b.kind}  {b.facts.invoices} invoices, {b.facts.unsent} unsent, {b.size} bytes")
    return 0


def _verify(args: argparse.Namespace) -> int:
    from ..archive import backup_passphrase, verify_backup

    config = optional_config(args)
    passphrase = backup_passphrase(passphrase_source(args, backup_config(config)), creating=False)
    info = verify_backup(args.file, passphrase)
    print(f"OK: {args.file} decrypts, matches its hash and holds a sound outbox "
          f"({info.facts.invoices} invoices, last id {info.facts.last_invoice_id})")
    return 0


def _restore(args: argparse.Namespace) -> int:
    from ..archive import backup_passphrase, restore_backup

    db, config = load_device(args)
    passphrase = backup_passphrase(passphrase_source(args, backup_config(config)), creating=False)
    result = restore_backup(args.file, passphrase, db, force=args.force, expected=expected_identity(config),
                            allow_other_device=args.other_device)
    print(f"restored {result.backup.facts.invoices} invoices into {result.target}")
    if result.replaced:
        print(f"the previous outbox was kept as {result.replaced}")
    print_numbering(result, config)
    print("start the daemon: invoices not yet in KSeF will be uploaded")
    return 0


def _status(args: argparse.Namespace) -> int:
    from ..archive import backup_status

    db, config = load_device(args)
    cfg = backup_config(config)
    grace = args.grace if args.grace is not None else (cfg.alarm_grace_s if cfg else 0.0)
    st = backup_status(db, _dir(args, cfg), grace_s=grace, now=dt.datetime.now(dt.UTC))
    age = f"{st.age_s / 3600:.1f} h ago" if st.age_s is not None else "never"
    print(f"last good backup: {age}; unsent invoices not in any backup: {st.unprotected}")
    print(("ALARM: " if st.alarm else "") + st.message)
    return 3 if st.alarm else 0
