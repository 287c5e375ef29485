"""`ksef-edge export --from DATE --to DATE DIR` and `ksef-edge prune --older-than-days N`.

Export writes the invoices' exact XML, their UPOs and index.csv/index.json for the accountant
(safe while the daemon runs). Prune removes confirmed, archived invoices from the device.
"""
from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path

from ..command_args.archive_args import UsageError, add_db_options, backup_config, load_device, run


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date; use YYYY-MM-DD, e.g. 2026-01-31") from None


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="archive: exact invoice XML, UPOs, index.csv/index.json for a date range")
    p.add_argument("--from", dest="date_from", type=_date, required=True, metavar="DATE", help="first issue date (YYYY-MM-DD)")
    p.add_argument("--to", dest="date_to", type=_date, required=True, metavar="DATE", help="last issue date (inclusive)")
    p.add_argument("dir", type=Path, metavar="DIR", help="new or empty directory to write into")
    p.add_argument("--csv-encoding", choices=("utf-8-sig", "windows-1250"), default="utf-8-sig",
                   help="encoding of ksiegowosc.csv (default UTF-8 with BOM; windows-1250 for older import tools)")
    add_db_options(p)
    p.add_argument("--no-record", action="store_true",
                   help="do not mark the invoices as archived (a copy for someone else; retention ignores it)")
    p.set_defaults(func=lambda a: run("export", lambda: _export(a)))

    pr = sub.add_parser("prune", help="delete confirmed, archived invoices older than N days from the device")
    add_db_options(pr)
    pr.add_argument("--older-than-days", type=int, help="age in days (default: [backup] prune_after_days)")
    pr.add_argument("--dry-run", action="store_true", help="only list what would be deleted")
    pr.set_defaults(func=lambda a: run("prune", lambda: _prune(a)))


def _export(args: argparse.Namespace) -> int:
    from ..archive import export_archive

    db, _ = load_device(args)
    result = export_archive(db, args.dir, date_from=args.date_from, date_to=args.date_to, record=not args.no_record,
                           csv_encoding=args.csv_encoding)
    print(f"exported {result.invoices} invoice(s) ({result.with_upo} with UPO) to {result.directory}; "
          "every file matches its stored hash")
    return 0


def _prune(args: argparse.Namespace) -> int:
    from ..archive import prune_archived

    db, config = load_device(args)
    cfg = backup_config(config)
    days = args.older_than_days if args.older_than_days is not None else (cfg.prune_after_days if cfg else 0)
    if not days or days < 1:
        raise UsageError("say how old: --older-than-days N (N >= 1), or set [backup] prune_after_days")
    result = prune_archived(db, older_than_days=days, dry_run=args.dry_run)
    verb = "would delete" if result.dry_run else "deleted"
    print(f"{verb} {len(result.pruned)} confirmed, archived invoice(s) issued before {result.cutoff}")
    for number in result.pruned:
        print(f"  {number}")
    return 0
