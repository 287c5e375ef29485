"""Receipt content read back from the stored FA(3) bytes, so a reprint shows exactly the invoice that was signed.

design.md: the XML is the one document KOD I, KOD II, the receipt and the upload derive from. A reprint
therefore needs only the outbox row (XML, links, KSeF number), never the original POS request.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import Decimal, InvalidOperation

from lxml import etree

from ..civil_time import warsaw_date as civil_date
from ..domain.fa3 import safe_parser
from ..domain.fiscal_receipt import fiscal_receipt_lines
from . import PrinterConfig
from .receipt_layout import (
    COPY_MARKER,
    OFFLINE_LABEL,
    Block,
    CorrectionInfo,
    ReceiptData,
    ReceiptLine,
    VatSummaryRow,
    layout,
)

# P_13_x / P_14_x -> the rate printed (FA(3) Fa sequence; P_13_1 covers 23/22 %, P_13_2 8/7 %).
_RATE_FIELDS = (
    ("P_13_1", "P_14_1", "23%"), ("P_13_2", "P_14_2", "8%"), ("P_13_3", "P_14_3", "5%"),
    ("P_13_4", "P_14_4", "taxi"), ("P_13_5", "P_14_5", "OSS"), ("P_13_6_1", None, "0%"),
    ("P_13_6_2", None, "0% WDT"), ("P_13_6_3", None, "0% EX"), ("P_13_7", None, "zw"),
    ("P_13_8", None, "np"), ("P_13_9", None, "np II"), ("P_13_10", None, "oo"), ("P_13_11", None, "marża"),
)
_P12_LABELS = {"0 KR": "0%", "0 WDT": "0% WDT", "0 EX": "0% EX", "np I": "np", "np II": "np II"}
_PAYMENT_LABELS = {"1": "gotówka", "2": "karta", "3": "bon", "4": "czek", "5": "kredyt", "6": "przelew", "7": "mobilna"}


class Fa3ReadError(ValueError):
    """The stored bytes are not an FA(3) invoice this reader understands."""


def receipt_from_fa3(xml: bytes, *, kod1_url: str | None, kod2_url: str | None, ksef_number: str | None = None,
                     copy: bool = False) -> ReceiptData:
    try:
        root = etree.fromstring(xml, safe_parser())
    except etree.XMLSyntaxError as exc:
        raise Fa3ReadError(f"stored invoice XML does not parse: {exc}") from None
    ns = {"fa": etree.QName(root).namespace or ""}

    def find(path: str, node: etree._Element = root) -> etree._Element | None:
        return node.find(path, ns)

    def text(path: str, node: etree._Element = root, *, required: bool = True) -> str | None:
        el = find(path, node)
        value = el.text.strip() if el is not None and el.text else None
        if required and not value:
            raise Fa3ReadError(f"stored invoice XML has no {path.replace('fa:', '')}")
        return value

    def amount(path: str, node: etree._Element = root, *, required: bool = False) -> Decimal | None:
        raw = text(path, node, required=required)
        if raw is None:
            return None
        try:
            return Decimal(raw)
        except InvalidOperation:
            raise Fa3ReadError(f"{path.replace('fa:', '')} is not a number: {raw!r}") from None

    fa = find("fa:Fa")
    if fa is None:
        raise Fa3ReadError("stored XML is not an FA(3) invoice (no Fa element)")
    seller = "fa:Podmiot1/fa:DaneIdentyfikacyjne/"
    address = tuple(x for x in (text("fa:Podmiot1/fa:Adres/fa:AdresL1", required=False),
                                text("fa:Podmiot1/fa:Adres/fa:AdresL2", required=False)) if x)
    correction = None
    is_kor = text("fa:RodzajFaktury", fa, required=False) == "KOR"
    if is_kor:  # a correction invoice: rows before/after (StanPrzed), totals are differences
        ref = "fa:DaneFaKorygowanej/"
        correction = CorrectionInfo(
            original_number=text(ref + "fa:NrFaKorygowanej", fa) or "",
            original_issue_date=dt.date.fromisoformat(text(ref + "fa:DataWystFaKorygowanej", fa) or ""),
            original_ksef_number=text(ref + "fa:NrKSeFFaKorygowanej", fa, required=False),
            reason=text("fa:PrzyczynaKorekty", fa, required=False),
        )
    lines = []
    gross_priced = fa.find("fa:FaWiersz/fa:P_11A", ns) is not None
    for row in fa.findall("fa:FaWiersz", ns):
        value = amount("fa:P_11A", row) if gross_priced else amount("fa:P_11", row)
        price = amount("fa:P_9B", row) if gross_priced else amount("fa:P_9A", row)
        rate = text("fa:P_12", row, required=False) or ""
        lines.append(ReceiptLine(
            name=text("fa:P_7", row, required=False) or "",
            quantity=amount("fa:P_8B", row) or Decimal(1),
            unit=text("fa:P_8A", row, required=False) or "",
            unit_price=price if price is not None else (value or Decimal(0)),
            vat_rate=f"{rate}%" if rate.isdigit() else _P12_LABELS.get(rate, rate),
            amount=value if value is not None else Decimal(0),
            before=(text("fa:StanPrzed", row, required=False) == "1") if is_kor else None,
        ))
    summary = []
    for net_field, vat_field, label in _RATE_FIELDS:
        net = amount(f"fa:{net_field}", fa)
        if net is None:
            continue
        vat = (amount(f"fa:{vat_field}", fa) if vat_field else None) or Decimal("0.00")
        summary.append(VatSummaryRow(label, net, vat, net + vat))
    due = text("fa:Platnosc/fa:TerminPlatnosci/fa:Termin", fa, required=False)
    return ReceiptData(
        seller_name=text(seller + "fa:Nazwa") or "", seller_address=address, seller_nip=text(seller + "fa:NIP") or "",
        invoice_number=text("fa:P_2", fa) or "", issue_date=dt.date.fromisoformat(text("fa:P_1", fa) or ""),
        lines=tuple(lines), vat_summary=tuple(summary), total=amount("fa:P_15", fa, required=True) or Decimal(0),
        payment_method=_PAYMENT_LABELS.get(text("fa:Platnosc/fa:FormaPlatnosci", fa, required=False) or "", "-"),
        due_date=dt.date.fromisoformat(due) if due else None,
        kod1_url=kod1_url, kod2_url=kod2_url,
        kod1_label=ksef_number or OFFLINE_LABEL, copy_marker=COPY_MARKER if copy else None,
        buyer_nip=text("fa:Podmiot2/fa:DaneIdentyfikacyjne/fa:NIP", required=False),
        buyer_name=text("fa:Podmiot2/fa:DaneIdentyfikacyjne/fa:Nazwa", required=False),
        currency=text("fa:KodWaluty", fa, required=False) or "PLN", amounts_gross=gross_priced,
        correction=correction, fiscal_receipt=fiscal_receipt_lines(fa),
        buyer_address=tuple(x for x in (text("fa:Podmiot2/fa:Adres/fa:AdresL1", required=False),
                                        text("fa:Podmiot2/fa:Adres/fa:AdresL2", required=False)) if x),
        issued_at=_datetime(text("fa:Naglowek/fa:DataWytworzeniaFa", required=False)),
        exemption_basis=next((v for v in (text(f"fa:Adnotacje/fa:Zwolnienie/fa:{f}", fa, required=False)
                                          for f in ("P_19A", "P_19B", "P_19C")) if v), None),
        reverse_charge=text("fa:Adnotacje/fa:P_18", fa, required=False) == "1",
        place_of_issue=text("fa:P_1M", fa, required=False),
    )


def _datetime(raw: str | None) -> dt.datetime | None:
    if not raw:
        return None
    try:
        return dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return None


def stored_receipt_blocks(xml: bytes, cfg: PrinterConfig, *, kod1_url: str | None, kod2_url: str | None,
                          ksef_number: str | None = None, copy: bool = False) -> list[Block]:
    """What the daemon queues for an outbox row: `PrintQueue.submit(id, stored_receipt_blocks(...), copy=copy)`."""
    data = receipt_from_fa3(xml, kod1_url=kod1_url, kod2_url=kod2_url, ksef_number=ksef_number, copy=copy)
    if copy:
        data = dataclasses.replace(data, copy_date=civil_date(dt.datetime.now(dt.timezone.utc)))
    return layout(data, cfg.line_columns, codec=cfg.python_codec)


__all__ = ["Fa3ReadError", "receipt_from_fa3", "stored_receipt_blocks"]
