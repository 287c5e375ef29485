"""Archive export for the accountant: exact invoice bytes, UPOs, and an index (CSV + JSON).

The XML files are the stored bytes, byte for byte: each is hashed before it is written (against
the hash stored at issuance, which KOD I and KSeF also carry) and read back after, so the archive
provably holds the invoices that were issued. Exports run in one read transaction (a consistent
view while the daemon keeps issuing) and are recorded in `archive_exports` for retention.
"""
from __future__ import annotations

import base64
import csv
import datetime as dt
import hashlib
import io
import json
import re
import sqlite3
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from ..store.tills import tills_by_invoice
from .atomic import fsync_dir, write_file
from .csv_export import write_accounting
from .errors import ExportError
from .fa3_index import index_fields
from .ledger import ExportMark, record_exports
from .snapshot import connect_existing

INDEX_COLUMNS = (
    "number", "issue_date", "kind", "buyer_nip", "buyer_name", "net", "vat", "gross",
    "ksef_number", "state", "sha256_hex", "sha256_base64", "xml_file", "upo_file", "ksef_xml_file",
    "till",  # the named till that issued it (store/tills.py); empty before tills
)
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class ExportResult:
    directory: Path
    invoices: int
    with_upo: int
    rows: list[dict[str, str]] = field(default_factory=list)


def safe_file_name(number: str) -> str:
    """`FV/KASA1/2026/02/000123` -> `FV_KASA1_2026_02_000123` (no directories, no dot-files)."""
    name = _UNSAFE.sub("_", number).strip("._") or "invoice"
    return name[:180]


def _write_verified(path: Path, data: bytes, expected: bytes, what: str) -> None:
    write_file(path, data, mode=0o644)
    if hashlib.sha256(path.read_bytes()).digest() != expected:
        raise ExportError("write_mismatch", f"{path}: the bytes read back differ from {what}; the medium is faulty")


def export_archive(
    db_path: Path,
    out_dir: Path,
    *,
    date_from: dt.date,
    date_to: dt.date,
    record: bool = True,
    now: dt.datetime | None = None,
    csv_encoding: str = "utf-8-sig",
) -> ExportResult:
    """Write every invoice with `date_from <= issue date <= date_to` into the new/empty `out_dir`."""
    db_path, out_dir = Path(db_path), Path(out_dir)
    if date_to < date_from:
        raise ExportError("bad_range", f"--to {date_to} is before --from {date_from}; swap them")
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise ExportError(
            "not_empty", f"{out_dir} exists and is not an empty directory; export into a new directory"
        )
    now = now or dt.datetime.now(dt.timezone.utc)
    con = connect_existing(db_path)
    try:
        rows, marks = _export_rows(con, out_dir, date_from, date_to)
        _write_index(out_dir, rows, date_from, date_to, now)
        write_accounting(out_dir, rows, encoding=csv_encoding)  # ksiegowosc.csv/.json: per-rate register
        if record and marks:
            record_exports(con, marks, str(out_dir.resolve()), now)
    finally:
        con.close()
    return ExportResult(out_dir, len(rows), sum(1 for m in marks if m.with_upo), rows)


def _export_rows(
    con: sqlite3.Connection, out_dir: Path, date_from: dt.date, date_to: dt.date
) -> tuple[list[dict[str, str]], list[ExportMark]]:
    (out_dir / "invoices").mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, str]] = []
    marks: list[ExportMark] = []
    used: set[str] = set()
    con.execute("BEGIN")  # one read transaction: the whole export sees one commit
    try:
        cur = con.execute(
            "SELECT id, number, xml, sha256, issue_date, state, ksef_number, upo FROM invoices "
            "WHERE issue_date BETWEEN ? AND ? ORDER BY issue_date, id",
            (date_from.isoformat(), date_to.isoformat()),
        )
        corrected = _technical_corrections(con)
        tills = tills_by_invoice(con)
        for invoice_id, number, xml, sha256, issue_date, state, ksef_number, upo in cur.fetchall():
            xml, sha256 = bytes(xml), bytes(sha256)
            if hashlib.sha256(xml).digest() != sha256:
                raise ExportError(
                    "hash_mismatch",
                    f"invoice {number} (id {invoice_id}): the stored XML does not match the hash recorded at "
                    "issuance; the database is damaged: stop, restore the newest backup, and report this",
                )
            try:
                fields = index_fields(xml)
            except ValueError as exc:
                raise ExportError("unreadable", f"invoice {number} (id {invoice_id}): {exc}") from None
            base = safe_file_name(number)
            if base in used:
                base = f"{base}__{invoice_id}"
            used.add(base)
            xml_rel = f"invoices/{base}.xml"
            _write_verified(out_dir / xml_rel, xml, sha256, f"invoice {number}")
            upo_rel = ""
            if upo is not None:
                upo = bytes(upo)
                upo_rel = f"upo/{base}.upo.xml"
                (out_dir / "upo").mkdir(exist_ok=True)
                _write_verified(out_dir / upo_rel, upo, hashlib.sha256(upo).digest(), f"the UPO of {number}")
            ksef_rel = ""
            if invoice_id in corrected:  # KSeF holds the technical correction's file, not the till's
                fixed, fixed_sha = corrected[invoice_id]
                ksef_rel = f"invoices/{base}.ksef.xml"
                _write_verified(out_dir / ksef_rel, fixed, fixed_sha, f"the technical correction of {number}")
            rows.append({
                "number": number,
                "issue_date": issue_date,
                "kind": fields.kind,
                "buyer_nip": fields.buyer_nip,
                "buyer_name": fields.buyer_name,
                "net": f"{fields.net:.2f}",
                "vat": f"{fields.vat:.2f}",
                "gross": f"{fields.gross:.2f}",
                "ksef_number": ksef_number or "",
                "state": state,
                "sha256_hex": sha256.hex(),
                "sha256_base64": base64.b64encode(sha256).decode("ascii"),
                "xml_file": xml_rel,
                "upo_file": upo_rel,
                "ksef_xml_file": ksef_rel,
                "till": tills.get(invoice_id, ""),
            })
            marks.append(ExportMark(invoice_id, number, sha256, upo is not None))
    finally:
        con.execute("COMMIT")
    fsync_dir(out_dir / "invoices")
    if (out_dir / "upo").exists():
        fsync_dir(out_dir / "upo")
    return rows, marks


def _technical_corrections(con: sqlite3.Connection) -> dict[int, tuple[bytes, bytes]]:
    """invoice id -> (accepted file, its SHA-256) for technically corrected invoices (schema v3+)."""
    if not con.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'technical_corrections'").fetchone():
        return {}
    out = {}
    for invoice_id, xml, sha256 in con.execute("SELECT invoice_id, xml, sha256 FROM technical_corrections"):
        xml, sha256 = bytes(xml), bytes(sha256)
        if hashlib.sha256(xml).digest() != sha256:
            raise ExportError("hash_mismatch", f"the technical correction of invoice id {invoice_id} does not match "
                                               "its stored hash; the database is damaged: restore the newest backup")
        out[int(invoice_id)] = (xml, sha256)
    return out


def _write_index(out_dir: Path, rows: list[dict[str, str]], date_from: dt.date, date_to: dt.date, now: dt.datetime) -> None:
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=INDEX_COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    write_file(out_dir / "index.csv", text.getvalue().encode("utf-8"), mode=0o644)
    doc = {
        "exported_at": now.astimezone(dt.timezone.utc).isoformat(timespec="seconds"),
        "from": date_from.isoformat(),
        "to": date_to.isoformat(),
        "count": len(rows),
        "totals": {
            key: f"{sum((Decimal(r[key]) for r in rows), Decimal(0)):.2f}" for key in ("net", "vat", "gross")
        },
        "invoices": rows,
    }
    write_file(out_dir / "index.json", json.dumps(doc, ensure_ascii=False, indent=2).encode("utf-8"), mode=0o644)

