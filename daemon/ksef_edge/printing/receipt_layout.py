"""What goes on the paper, line by line: pure, so the ESC/POS bytes and the PNG preview show the same receipt.

Every text line is at most `columns` characters (the printer would wrap it mid-word otherwise);
QR codes are separate blocks carrying the exact link, with their labels as text lines under them
(protocol.md §6: KOD I labelled `OFFLINE` or the KSeF number, KOD II labelled `CERTYFIKAT`).
"""
from __future__ import annotations

import datetime as dt
import textwrap
import unicodedata
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any, Literal, Union

if TYPE_CHECKING:
    from ..domain.invoice import Invoice

KOD1_CAPTION = "Sprawdź, czy Twoja faktura znajduje się w KSeF!"  # MF visualiser header (protocol.md §6.3)
KOD2_CAPTION = "Zweryfikuj dostawcę faktury"
OFFLINE_LABEL = "OFFLINE"
CERTIFICATE_LABEL = "CERTYFIKAT"
COPY_MARKER = "DUPLIKAT"


class UnprintableTextError(ValueError):
    """Text holds a character the printer's code page cannot print (and no deliberate transliteration exists)."""




@dataclass(frozen=True)
class ReceiptLine:
    name: str
    quantity: Decimal
    unit: str
    unit_price: Decimal
    vat_rate: str  # as printed: "23%", "zw", "np", "oo"
    amount: Decimal  # gross for gross-priced invoices (P_11A), net otherwise (P_11)
    before: bool | None = None  # correction (KOR) rows: True = state before (StanPrzed), False = after


@dataclass(frozen=True)
class CorrectionInfo:
    """What a correction invoice (KOR) receipt shows about the invoice it corrects."""

    original_number: str  # NrFaKorygowanej
    original_issue_date: dt.date  # DataWystFaKorygowanej
    original_ksef_number: str | None = None  # NrKSeFFaKorygowanej, when the bytes carry it
    reason: str | None = None  # PrzyczynaKorekty


@dataclass(frozen=True)
class VatSummaryRow:
    rate: str
    net: Decimal
    vat: Decimal
    gross: Decimal


@dataclass(frozen=True)
class ReceiptData:
    seller_name: str
    seller_address: tuple[str, ...]
    seller_nip: str
    invoice_number: str
    issue_date: dt.date
    lines: tuple[ReceiptLine, ...]
    vat_summary: tuple[VatSummaryRow, ...]
    total: Decimal
    payment_method: str  # Polish label, e.g. "gotówka"
    kod1_url: str | None
    kod2_url: str | None
    kod1_label: str = OFFLINE_LABEL  # "OFFLINE" or the KSeF number
    copy_marker: str | None = None  # None or "DUPLIKAT"
    buyer_nip: str | None = None
    buyer_name: str | None = None
    currency: str = "PLN"
    amounts_gross: bool = True  # line amounts are gross (shelf prices) or net
    due_date: dt.date | None = None
    correction: CorrectionInfo | None = None  # set for a correction invoice (KOR): totals are differences
    buyer_address: tuple[str, ...] = ()
    issued_at: dt.datetime | None = None  # DataWytworzeniaFa: printed as local date and time of issue
    exemption_basis: str | None = None  # P_19A/B/C: the legal basis of the zw lines
    reverse_charge: bool = False  # P_18 = 1: "odwrotne obciążenie" in words
    place_of_issue: str | None = None  # P_1M


@dataclass(frozen=True)
class TextLine:
    text: str
    bold: bool = False
    align: Literal["left", "center", "right"] = "left"
    double_height: bool = False


@dataclass(frozen=True)
class QrBlock:
    payload: str
    name: str  # "KOD I" / "KOD II", for logs and tests


Block = Union[TextLine, QrBlock]


def _rate_text(rate: Any) -> str:
    value = getattr(rate, "value", str(rate))
    return f"{value}%" if str(value).isdigit() else str(value)


def receipt_from_invoice(invoice: "Invoice", totals: Any = None, *, kod1_url: str | None, kod2_url: str | None,
                         ksef_number: str | None = None, copy: bool = False) -> ReceiptData:
    """The receipt of an issued invoice; `totals` is `domain.totals.compute_totals(invoice)` (computed if None)."""
    from ..domain.invoice import PriceKind

    if totals is None:
        from ..domain.totals import compute_totals

        totals = compute_totals(invoice)
    amounts_gross = totals.price_kind is PriceKind.GROSS
    lines = tuple(  # LineAmount.value: P_11A for gross-priced invoices, P_11 for net-priced ones
        ReceiptLine(la.line.name, la.line.quantity, la.line.unit, la.line.unit_price, _rate_text(la.line.vat_rate), la.value)
        for la in totals.lines)
    summary = tuple(VatSummaryRow(_rate_text(rate), rt.net, rt.vat, rt.gross) for rate, rt in totals.by_rate.items())
    seller = invoice.seller
    address = tuple(x for x in (seller.address.line1, seller.address.line2) if x) if seller.address else ()
    buyer = invoice.buyer
    buyer_address = tuple(x for x in (buyer.address.line1, buyer.address.line2) if x) if buyer and buyer.address else ()
    from ..domain.invoice import VatRate

    return ReceiptData(
        seller_name=seller.name, seller_address=address, seller_nip=seller.nip or "",
        invoice_number=invoice.number, issue_date=invoice.issue_date,
        lines=lines, vat_summary=summary, total=totals.gross,
        payment_method=invoice.payment.method.label_pl, due_date=invoice.payment.due_date,
        kod1_url=kod1_url, kod2_url=kod2_url,
        kod1_label=ksef_number or OFFLINE_LABEL, copy_marker=COPY_MARKER if copy else None,
        buyer_nip=buyer.nip if buyer else None, buyer_name=buyer.name if buyer else None,
        currency=invoice.currency, amounts_gross=amounts_gross,
        buyer_address=buyer_address, issued_at=invoice.created_at,
        exemption_basis=invoice.exemption_basis if VatRate.ZW in invoice.rates else None,
        reverse_charge=VatRate.OO in invoice.rates, place_of_issue=invoice.place_of_issue,
    )


def money(amount: Decimal) -> str:
    """Polish notation, two decimals: 1234.5 -> "1234,50"."""
    return f"{amount.quantize(Decimal('0.01'), rounding=ROUND_HALF_UP):f}".replace(".", ",")


def _unit_price(price: Decimal) -> str:
    exponent = price.normalize().as_tuple().exponent
    if isinstance(exponent, int) and exponent < -2:
        return f"{price.normalize():f}".replace(".", ",")
    return money(price)


def _quantity(qty: Decimal) -> str:
    return f"{qty.normalize():f}".replace(".", ",")


def clean_text(text: str, codec: str | None = "cp852") -> str:
    """One printable line: NFC, control characters (incl. ESC/POS escapes) turned into spaces, and every
    character `codec` lacks replaced by a readable stand-in (`printable.stand_in`: m² -> m2, Cyrillic
    transliterated, emoji dropped). The stored XML keeps the exact text; only the paper shows the stand-in."""
    from .printable import stand_in

    text = unicodedata.normalize("NFC", text)
    out = []
    for ch in text:
        if unicodedata.category(ch)[0] in "CZ" and ch != " ":
            ch = " "  # tabs, newlines, NBSP, ESC ... never reach the printer as commands
        if codec is not None and not _encodable(ch, codec):
            ch = stand_in(ch, codec)
        out.append(ch)
    return "".join(out)


def _encodable(ch: str, codec: str) -> bool:
    try:
        ch.encode(codec)
        return True
    except UnicodeEncodeError:
        return False


def wrap(text: str, columns: int) -> list[str]:
    """Word-wrap to `columns`; long words (links, numbers) are split rather than overflow."""
    return textwrap.wrap(text, columns, break_long_words=True, break_on_hyphens=True) or [""]


def _kv(left: str, right: str, columns: int) -> list[str]:
    """`left ....... right` on one line when it fits, else left wrapped and right aligned on the last line."""
    lines = wrap(left, columns) if left else []
    right_lines = wrap(right, columns)
    last_right = right_lines[-1]
    if lines and len(lines[-1]) + 1 + len(last_right) <= columns and len(right_lines) == 1:
        lines[-1] = lines[-1] + " " * (columns - len(lines[-1]) - len(last_right)) + last_right
        return lines
    return lines + right_lines[:-1] + [last_right.rjust(columns)]


def layout(data: ReceiptData, columns: int, *, codec: str | None = "cp852") -> list[Block]:
    """The receipt as blocks for a `columns`-wide paper; text is checked against `codec` (None: no check)."""

    def t(text: str) -> str:
        return clean_text(text, codec)

    blocks: list[Block] = []

    def text(s: str, **style: Any) -> None:
        for line in wrap(t(s), columns):
            blocks.append(TextLine(line, **style))

    def kv(left: str, right: str, **style: Any) -> None:
        for line in _kv(t(left), t(right), columns):
            blocks.append(TextLine(line, **style))

    rule = TextLine("-" * columns)

    text(data.seller_name, bold=True, align="center", double_height=True)
    for line in data.seller_address:
        text(line, align="center")
    text(f"NIP {data.seller_nip}", align="center")
    blocks.append(rule)
    if data.copy_marker:
        text(data.copy_marker, bold=True, align="center", double_height=True)
    kor = data.correction
    if kor is not None:
        text("FAKTURA KORYGUJĄCA", bold=True, align="center")
        text(data.invoice_number, bold=True, align="center")
    else:
        text(f"Faktura {data.invoice_number}", bold=True)
    kv("Data wystawienia:", _issued(data))
    if data.place_of_issue:
        kv("Miejsce wystawienia:", data.place_of_issue)
    if kor is not None:
        text(f"Do faktury: {kor.original_number}")
        kv("z dnia:", kor.original_issue_date.isoformat())
        if kor.original_ksef_number:
            text(f"KSeF: {kor.original_ksef_number}")
        if kor.reason:
            text(f"Przyczyna: {kor.reason}")
    if data.buyer_name or data.buyer_nip:
        text("Nabywca:", bold=True)
        if data.buyer_name:
            text(data.buyer_name)
        for line in data.buyer_address:
            text(line)
        if data.buyer_nip:
            text(f"NIP {data.buyer_nip}")
    blocks.append(rule)
    kv("Pozycje" if kor is None else "Pozycje przed / po korekcie",
       "wartość brutto" if data.amounts_gross else "wartość netto")
    for item in data.lines:
        if item.before is not False:  # a KOR line is named once, on its "przed" row
            text(item.name)
        label = "  " if item.before is None else ("  przed: " if item.before else "  po:    ")
        kv(f"{label}{_quantity(item.quantity)} {item.unit} x {_unit_price(item.unit_price)}",
           f"{money(item.amount)} {item.vat_rate}")
    if data.reverse_charge:
        text("oo - odwrotne obciążenie: VAT rozlicza nabywca", bold=True)
    if data.exemption_basis:
        text(f"zw - zwolnienie z VAT, podstawa: {data.exemption_basis}")
    blocks.append(rule)
    if kor is not None:
        text("Różnice (po - przed):", bold=True)
    _vat_summary(data, columns, t, blocks)
    blocks.append(rule)
    if kor is None:
        kv("DO ZAPŁATY", f"{money(data.total)} {data.currency}", bold=True, double_height=True)
        kv("Płatność:", data.payment_method)
    else:
        label = "DO ZWROTU" if data.total < 0 else ("DO ZAPŁATY" if data.total > 0 else "RÓŻNICA")
        kv(label, f"{money(abs(data.total))} {data.currency}", bold=True, double_height=True)
        kv("Zwrot:" if data.total < 0 else "Płatność:", data.payment_method)
    if data.due_date:
        kv("Termin płatności:", data.due_date.isoformat())
    if data.kod1_url:
        blocks.append(TextLine(""))
        text(KOD1_CAPTION, align="center")
        blocks.append(QrBlock(data.kod1_url, "KOD I"))
        text(data.kod1_label, bold=True, align="center")
    if data.kod2_url:
        blocks.append(TextLine(""))
        text(KOD2_CAPTION, align="center")
        blocks.append(QrBlock(data.kod2_url, "KOD II"))
        text(CERTIFICATE_LABEL, bold=True, align="center")
    if data.copy_marker:
        blocks.append(TextLine(""))
        text(data.copy_marker, bold=True, align="center")
    return blocks


def _issued(data: ReceiptData) -> str:
    """Date of issue, with the time of issue in Polish local time when the document states it."""
    if data.issued_at is None:
        return data.issue_date.isoformat()
    from zoneinfo import ZoneInfo

    local = data.issued_at.astimezone(ZoneInfo("Europe/Warsaw")) if data.issued_at.tzinfo else data.issued_at
    if local.date() != data.issue_date:  # never contradict P_1
        return data.issue_date.isoformat()
    return f"{data.issue_date.isoformat()} {local:%H:%M}"


def _vat_summary(data: ReceiptData, columns: int, t: Any, blocks: list[Block]) -> None:
    """Per rate and a net / VAT / gross total row: a table when it fits the width, one block per rate otherwise."""
    header = ("Stawka", "Netto", "VAT", "Brutto")
    rows = [(t(r.rate), money(r.net), money(r.vat), money(r.gross)) for r in data.vat_summary]
    rows.append(("Razem", money(sum((r.net for r in data.vat_summary), Decimal(0))),
                 money(sum((r.vat for r in data.vat_summary), Decimal(0))),
                 money(sum((r.gross for r in data.vat_summary), Decimal(0)))))
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(4)]
    if sum(widths) + 3 <= columns:
        extra = columns - sum(widths) - 3
        widths[0] += extra  # rate column absorbs the slack, amounts stay right-aligned at the edge
        for i, row in enumerate([header, *rows]):
            cells = [row[0].ljust(widths[0])] + [cell.rjust(w) for cell, w in zip(row[1:], widths[1:])]
            blocks.append(TextLine(" ".join(cells), bold=i == 0 or i == len(rows)))
        return
    for rate, net, vat, gross in rows:
        for line in wrap(f"Stawka {rate}" if rate != "Razem" else "Razem", columns):
            blocks.append(TextLine(line, bold=True))
        for label, value in (("  Netto", net), ("  VAT", vat), ("  Brutto", gross)):
            blocks.extend(TextLine(line) for line in _kv(label, value, columns))


__all__ = ["Block", "CorrectionInfo", "QrBlock", "ReceiptData", "ReceiptLine", "TextLine", "UnprintableTextError", "VatSummaryRow",
           "clean_text", "layout", "money", "receipt_from_invoice", "wrap"]
