"""The accountant's per-rate register (`ksiegowosc.csv` + `ksiegowosc.json`) written beside the export's XMLs.

Why a second CSV: `index.csv` is the archive's machine index (comma, dot, UTF-8). Polish accounting
software and a Polish-locale spreadsheet expect a semicolon separator and a decimal comma, and the
VAT register needs net and VAT per rate (23, 8, 5, 0 %, zw, oo, np), the payment method and the KSeF
number. Amounts are read from the exported XML bytes themselves (the files just written and verified),
so the register and the archive cannot disagree. A correction (KOR) row holds its differences, so the
columns add up to the day reports of the same days (reports/day_report.py).

Encoding: UTF-8 with a BOM by default. It holds every character KSeF accepts in a name (a Cyrillic or
Vietnamese buyer name would be lost in windows-1250), and the BOM is what makes Excel (Polish locale)
and LibreOffice open it as UTF-8 on a double click. `encoding="windows-1250"` is available for older
import tools; a name that code page cannot hold is then refused, naming the invoice, never altered.
"""
from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from ..domain.fiscal_receipt import receipt_of_fa
from ..reports.day_report import ZERO, document_amounts
from .atomic import write_file
from .errors import ExportError

CSV_NAME = "ksiegowosc.csv"
JSON_NAME = "ksiegowosc.json"
ENCODINGS = {"utf-8-sig": "UTF-8 z BOM", "windows-1250": "windows-1250"}
# (rate key in reports.day_report, column label, has a VAT column)
RATES: tuple[tuple[str, str, bool], ...] = (
    ("23", "23%", True), ("8", "8%", True), ("5", "5%", True), ("0", "0%", False),
    ("zw", "zw", False), ("oo", "oo", False), ("np", "np", False),
)
PAYMENT_PL = {"cash": "gotówka", "card": "karta", "transfer": "przelew", "voucher": "bon", "cheque": "czek",
              "credit": "kredyt", "mobile": "mobilna", "unknown": ""}
HEADER = (
    ["Numer faktury", "Data wystawienia", "Rodzaj", "NIP nabywcy", "Nabywca"]
    + [col for _, label, has_vat in RATES for col in ([f"Netto {label}", f"VAT {label}"] if has_vat else [f"Netto {label}"])]
    + ["Netto razem", "VAT razem", "Brutto", "Forma płatności", "Numer KSeF", "Stan", "Do paragonu",
       "Plik XML", "Plik UPO"]
)


def _pl(value: Decimal) -> str:
    """Decimal comma, no thousands separator: what a Polish-locale spreadsheet reads as a number."""
    return f"{value:.2f}".replace(".", ",")


@dataclass(frozen=True)
class RegisterRow:
    number: str
    issue_date: str
    kind: str
    buyer_nip: str
    buyer_name: str
    rates: dict[str, tuple[Decimal, Decimal]]  # rate key -> (net, VAT); every key of RATES
    net: Decimal
    vat: Decimal
    gross: Decimal
    payment_method: str
    ksef_number: str
    state: str
    fiscal_receipt: str
    xml_file: str
    upo_file: str

    def csv_cells(self) -> list[str]:
        cells = [self.number, self.issue_date, self.kind, self.buyer_nip, self.buyer_name]
        for key, _, has_vat in RATES:
            net, vat = self.rates[key]
            cells += [_pl(net), _pl(vat)] if has_vat else [_pl(net)]
        return cells + [_pl(self.net), _pl(self.vat), _pl(self.gross), PAYMENT_PL.get(self.payment_method, ""),
                        self.ksef_number, self.state, self.fiscal_receipt, self.xml_file, self.upo_file]

    def to_json(self) -> dict[str, object]:
        return {
            "number": self.number, "issue_date": self.issue_date, "kind": self.kind, "buyer_nip": self.buyer_nip,
            "buyer_name": self.buyer_name,
            "rates": {k: {"net": f"{n:.2f}", "vat": f"{v:.2f}"} for k, (n, v) in self.rates.items()},
            "net": f"{self.net:.2f}", "vat": f"{self.vat:.2f}", "gross": f"{self.gross:.2f}",
            "payment_method": self.payment_method, "ksef_number": self.ksef_number, "state": self.state,
            "fiscal_receipt": self.fiscal_receipt, "xml_file": self.xml_file, "upo_file": self.upo_file,
        }


def accounting_rows(out_dir: Path, index_rows: list[dict[str, str]]) -> list[RegisterRow]:
    """One register row per exported invoice, read from its exported XML file."""
    from lxml import etree

    from ..domain.fa3 import safe_parser

    out: list[RegisterRow] = []
    for row in index_rows:
        xml = (out_dir / row["xml_file"]).read_bytes()
        amounts = document_amounts(xml, row["number"])
        root = etree.fromstring(xml, safe_parser())
        fa = root.find(f"{{{etree.QName(root).namespace}}}Fa")
        receipt = receipt_of_fa(fa) if fa is not None else None
        rates: dict[str, tuple[Decimal, Decimal]] = {}
        for key, _, _ in RATES:
            a = amounts.by_rate.get(key)
            rates[key] = (a.net, a.vat) if a else (ZERO, ZERO)
        out.append(RegisterRow(
            number=row["number"], issue_date=row["issue_date"], kind=row["kind"], buyer_nip=row["buyer_nip"],
            buyer_name=row["buyer_name"], rates=rates,
            net=sum((a.net for a in amounts.by_rate.values()), ZERO),
            vat=sum((a.vat for a in amounts.by_rate.values()), ZERO),
            gross=amounts.gross, payment_method=amounts.payment_method,
            ksef_number=row["ksef_number"], state=row["state"],
            fiscal_receipt=f"{receipt.number} {receipt.cash_register} {receipt.date}" if receipt else "",
            xml_file=row["xml_file"], upo_file=row["upo_file"],
        ))
    return out


def write_accounting(out_dir: Path, index_rows: list[dict[str, str]], *, encoding: str = "utf-8-sig") -> None:
    """Write `ksiegowosc.csv` (semicolons, decimal comma, CRLF, `encoding`) and `ksiegowosc.json`."""
    if encoding not in ENCODINGS:
        raise ExportError("bad_encoding", f"CSV encoding {encoding!r} is not one of {', '.join(ENCODINGS)}")
    rows = accounting_rows(out_dir, index_rows)
    text = io.StringIO()
    writer = csv.writer(text, delimiter=";", lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow(HEADER)
    for r in rows:
        writer.writerow(r.csv_cells())
    try:
        data = text.getvalue().encode(encoding)
    except UnicodeEncodeError as exc:
        bad = text.getvalue()[exc.start]
        raise ExportError(
            "unencodable", f"character {bad!r} in the register cannot be written in {encoding}; "
            "export with the default UTF-8 encoding"
        ) from None
    write_file(out_dir / CSV_NAME, data, mode=0o644)
    totals = {f"{k}_{part}": f"{sum((r.rates[k][i] for r in rows), ZERO):.2f}"
              for k, _, _ in RATES for i, part in enumerate(("net", "vat"))}
    for name in ("net", "vat", "gross"):
        totals[name] = f"{sum((getattr(r, name) for r in rows), ZERO):.2f}"
    doc = {
        "csv": {"file": CSV_NAME, "encoding": ENCODINGS[encoding], "separator": ";", "decimal": ","},
        "totals": totals,
        "invoices": [r.to_json() for r in rows],
    }
    write_file(out_dir / JSON_NAME, json.dumps(doc, ensure_ascii=False, indent=2).encode("utf-8"), mode=0o644)
