"""`ksef-edge replica config|restore`: continuous replication of the outbox with Litestream.

config: write the Litestream YAML that ksef-edge-replica.service runs (`--url file:///DIR` for a
second medium, or `--url sftp://USER@HOST:PORT/PATH --key FILE [--host-key "ssh-ed25519 ..."]`).
restore: on a new or repaired device, daemon stopped: the replica's newest state becomes the outbox,
checked like a backup (this device's NIP and till; a new numbering incarnation). docs/records.md.
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path

from ..archive.restore_cli import add_other_device_option, expected_identity
from ..command_args.archive_args import UsageError, load_device, run


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("replica", help="continuous replication of the outbox (Litestream): config, restore")
    cmds = p.add_subparsers(dest="replica_command", metavar="ACTION", required=True)
    c = cmds.add_parser("config", help="write the Litestream config for ksef-edge-replica.service")
    c.add_argument("--config", required=True, metavar="FILE", help="device TOML (store.path)")
    c.add_argument("--url", required=True, help="file:///media/ksef-backup/replica or sftp://USER@HOST:PORT/PATH")
    c.add_argument("--key", type=Path, help="SFTP: the device's private SSH key (0600)")
    c.add_argument("--host-key", help='SFTP: the server\'s public host key to pin ("ssh-ed25519 AAAA...")')
    c.add_argument("--out", type=Path, default=Path("/etc/ksef-edge/litestream.yml"))
    c.set_defaults(func=lambda a: run("replica config", lambda: _config(a)))

    r = cmds.add_parser("restore", help="install the replica's newest state as the outbox (stop the daemon first)")
    r.add_argument("--config", required=True, metavar="FILE", help="device TOML (store.path, NIP, till)")
    r.add_argument("--litestream-config", type=Path, default=Path("/etc/ksef-edge/litestream.yml"),
                   help="the Litestream config naming the replica (as written by `replica config`)")
    r.add_argument("--force", action="store_true",
                   help="replace an outbox that holds invoices (it is kept next to it as .replaced-*)")
    add_other_device_option(r)
    r.set_defaults(func=lambda a: run("replica restore", lambda: _restore(a)))


def _config(args: argparse.Namespace) -> int:
    from ..archive.replica import Replica, replica_config

    db, _ = load_device(args)
    assert db is not None
    if args.key is not None and not args.key.exists():
        raise UsageError(f"{args.key} does not exist")
    text = replica_config(db.resolve(), Replica(args.url, args.key, args.host_key))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_name(f".{args.out.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.chmod(tmp, 0o640)
    os.replace(tmp, args.out)
    print(f"wrote {args.out}: {db} streams to {args.url}; (re)start ksef-edge-replica.service")
    return 0


def _restore(args: argparse.Namespace) -> int:
    from ..archive.backup import utc_now
    from ..archive.replica import restore_from_replica
    from ..civil_time import warsaw_date as civil_date
    from ..store.numbering import SeriesPattern

    db, config = load_device(args)
    assert db is not None
    result = restore_from_replica(args.litestream_config, db, expected=expected_identity(config), force=args.force,
                                  allow_other_device=args.other_device)
    print(f"restored {result.invoices} invoices from the replica into {result.target}")
    if result.replaced:
        print(f"the previous outbox was kept as {result.replaced}")
    for problem in result.identity_problems:
        print(f"WARNING: accepted with --other-device: {problem}")
    for series, seq in sorted(result.series.items()):
        print(f"series {series}: last number in the replica {seq} (closed on this device)")
    if config is not None:
        pattern = SeriesPattern(config.device.series_pattern, config.device.pos_id, result.incarnation)
        print(f"numbering incarnation {result.incarnation}: the next invoice number is "
              f"{pattern.number(civil_date(utc_now()), 1)}, in a new series (the lost device may have issued in "
              "its last second what the replica never received)")
    print("then run `ksef-edge recover --config ...` and start the daemon")
    return 0
