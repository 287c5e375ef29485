"""`ksef-edge receipt ID --config FILE [--png OUT] [--escpos OUT] [--print] [--copy]`: one invoice's receipt.

For support and for shops without a printer: the PNG preview, the raw ESC/POS bytes, or a print on the
configured printer, all laid out from the stored FA(3) bytes and links. The database is opened read-only,
so this is safe while the daemon runs (it never touches print_state; the API's reprint does).
"""
from __future__ import annotations

import argparse
import sqlite3
import sys
from dataclasses import replace
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("receipt", help="write an invoice's receipt as PNG / ESC/POS bytes, or print it")
    p.add_argument("invoice", metavar="ID", help="invoice id, or its number (e.g. FV/KASA1/2026/02/000123)")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--config", metavar="FILE", help="device TOML (database path and [printer])")
    src.add_argument("--db", metavar="FILE", help="outbox database, when no config is at hand")
    p.add_argument("--png", metavar="OUT", help="write a PNG preview")
    p.add_argument("--escpos", metavar="OUT", help="write the ESC/POS bytes to a file")
    p.add_argument("--print", action="store_true", help="send it to the configured printer")
    p.add_argument("--copy", action="store_true", help='mark it "DUPLIKAT" (a reprint for the buyer)')
    p.add_argument("--paper", choices=["58mm", "80mm"], help="paper width (default: the configured printer's)")
    p.set_defaults(func=main)


def read_stored(db: Path, invoice: str) -> tuple[bytes, str | None, str | None, str | None]:
    """(FA(3) xml, KOD I, KOD II, KSeF number) of one invoice, read-only."""
    if not db.exists():
        raise LookupError(f"database {db} does not exist; check store.path in the config")
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        row = con.execute(
            "SELECT xml, kod1_url, kod2_url, ksef_number FROM invoices WHERE id = ? OR number = ? LIMIT 1",
            (int(invoice) if invoice.isdigit() else -1, invoice),
        ).fetchone()
    finally:
        con.close()
    if row is None:
        raise LookupError(f"invoice {invoice!r} is not in {db}; list invoices with the API (GET /v1/invoices)")
    return bytes(row[0]), row[1], row[2], row[3]


def main(args: argparse.Namespace) -> int:
    from ..printing import PrinterConfig, PrinterConfigError
    from ..printing.escpos_output import render, send
    from ..printing.fa3_receipt import receipt_from_fa3
    from ..printing.preview import write_preview
    from ..printing.receipt_layout import layout

    if not (args.png or args.escpos or args.print):
        print("ksef-edge receipt: say what to produce: --png OUT, --escpos OUT and/or --print", file=sys.stderr)
        return 2
    printer = PrinterConfig()
    if args.config:
        from ..config import ConfigError, load_config

        try:
            config = load_config(args.config)
        except ConfigError as exc:
            print(f"ksef-edge receipt: config error: {exc}", file=sys.stderr)
            return 2
        db = Path(config.store.path)
        printer = config.printer if isinstance(config.printer, PrinterConfig) else printer
    else:
        db = Path(args.db)
    if args.paper:
        printer = replace(printer, paper=args.paper, columns=None, width_dots=None)
    try:
        xml, kod1, kod2, ksef_number = read_stored(db, args.invoice)
        data = receipt_from_fa3(xml, kod1_url=kod1, kod2_url=kod2, ksef_number=ksef_number, copy=args.copy)
        blocks = layout(data, printer.line_columns, codec=printer.python_codec)
        if args.png:
            print(f"preview: {write_preview(blocks, printer, args.png)}")
        if args.escpos or args.print:
            raw = render(blocks, printer)
            if args.escpos:
                Path(args.escpos).write_bytes(raw)
                print(f"ESC/POS: {args.escpos} ({len(raw)} bytes)")
            if args.print:
                send(printer, raw)
                print("printed")
    except PrinterConfigError as exc:
        print(f"ksef-edge receipt: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # one actionable line for the operator
        print(f"ksef-edge receipt: {exc}", file=sys.stderr)
        return 1
    return 0
