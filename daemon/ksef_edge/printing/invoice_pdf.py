"""The invoice as an A4 PDF for a B2B buyer: every field a buyer expects, in Polish, with both QR codes.

Library: fpdf2. It is pure Python (its dependencies, Pillow and fontTools, are already wheels on a
Pi's piwheels/Debian), embeds TrueType fonts with Polish letters, and is actively maintained;
reportlab would add C extensions and a larger install for nothing we need here. Font: DejaVu Sans
(Debian `fonts-dejavu-core`, already in setup-env's list; every Pi image has it).

Content comes from the stored FA(3) bytes (`fa3_receipt.receipt_from_fa3`), like the receipt, so the
PDF shows exactly the signed document. KOD I is labelled `OFFLINE` until KSeF assigns a number, then
that number; KOD II is labelled `CERTYFIKAT` (protocol.md §6).
"""
from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal
from pathlib import Path

import segno
from fpdf import FPDF

from ..civil_time import WARSAW
from .fa3_receipt import receipt_from_fa3
from .receipt_layout import (
    CERTIFICATE_LABEL,
    KOD1_CAPTION,
    KOD2_CAPTION,
    ReceiptData,
    money,
)

FONT_DIRS = (Path("/usr/share/fonts/truetype/dejavu"),)
FONT_REGULAR = "DejaVuSans.ttf"
FONT_BOLD = "DejaVuSans-Bold.ttf"
QR_MM = 42  # big enough for KOD II's long link to decode from a 150 dpi scan


class PdfFontMissingError(RuntimeError):
    """The DejaVu fonts are not installed (Debian package fonts-dejavu-core)."""


def _font(name: str) -> Path:
    for folder in FONT_DIRS:
        if (folder / name).is_file():
            return folder / name
    raise PdfFontMissingError(f"font {name} not found in {', '.join(map(str, FONT_DIRS))}; "
                              "install the Debian package fonts-dejavu-core")


def _qr_png(payload: str) -> io.BytesIO:
    out = io.BytesIO()
    segno.make(payload, error="m", micro=False).save(out, kind="png", scale=8, border=4)
    out.seek(0)
    return out


def _qty(value: Decimal) -> str:
    return f"{value.normalize():f}".replace(".", ",")


class _Doc(FPDF):
    def __init__(self) -> None:
        super().__init__(orientation="P", unit="mm", format="A4")
        self.add_font("DejaVu", "", str(_font(FONT_REGULAR)))
        self.add_font("DejaVu", "B", str(_font(FONT_BOLD)))
        self.set_auto_page_break(auto=True, margin=15)
        self.set_margins(15, 15, 15)
        self.set_creator("ksef-edge")

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font("DejaVu", "", 7)
        self.cell(0, 5, f"Strona {self.page_no()}/{{nb}}", align="R")


def invoice_pdf(xml: bytes, *, kod1_url: str | None, kod2_url: str | None, ksef_number: str | None = None,
                copy_date: dt.date | None = None) -> bytes:
    """The A4 PDF of a stored invoice or correction (`copy_date`: mark it as a duplicate of that day)."""
    data = receipt_from_fa3(xml, kod1_url=kod1_url, kod2_url=kod2_url, ksef_number=ksef_number)
    pdf = _Doc()
    pdf.set_title(f"Faktura {data.invoice_number}")
    pdf.add_page()
    _head(pdf, data, copy_date)
    _parties(pdf, data)
    _lines(pdf, data)
    _summary(pdf, data)
    _codes(pdf, data)
    return bytes(pdf.output())


def _head(pdf: _Doc, data: ReceiptData, copy_date: dt.date | None) -> None:
    pdf.set_font("DejaVu", "B", 16)
    title = "Faktura korygująca" if data.correction else "Faktura VAT"
    pdf.cell(0, 9, f"{title} nr {data.invoice_number}", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("DejaVu", "", 9)
    if copy_date:
        pdf.set_font("DejaVu", "B", 11)
        pdf.cell(0, 6, f"DUPLIKAT z dnia {copy_date.isoformat()}", new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("DejaVu", "", 9)
    facts = [("Data wystawienia", data.issue_date.isoformat())]
    if data.place_of_issue:
        facts.append(("Miejsce wystawienia", data.place_of_issue))
    if data.issued_at:
        facts.append(("Wystawiono", data.issued_at.astimezone(WARSAW).strftime("%Y-%m-%d %H:%M")))
    kor = data.correction
    if kor is not None:
        facts.append(("Do faktury", f"{kor.original_number} z dnia {kor.original_issue_date.isoformat()}"))
        if kor.original_ksef_number:
            facts.append(("Numer KSeF faktury korygowanej", kor.original_ksef_number))
        if kor.reason:
            facts.append(("Przyczyna korekty", kor.reason))
    for label, value in facts:
        pdf.cell(55, 5, f"{label}:")
        pdf.multi_cell(0, 5, value, new_x="LMARGIN", new_y="NEXT")
    for line in data.fiscal_receipt:
        pdf.cell(0, 5, line, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)


def _parties(pdf: _Doc, data: ReceiptData) -> None:
    top, width = pdf.get_y(), (pdf.w - pdf.l_margin - pdf.r_margin) / 2 - 3
    seller = [data.seller_name, *data.seller_address, f"NIP {data.seller_nip}"]
    buyer = [x for x in (data.buyer_name, *data.buyer_address) if x]
    if data.buyer_nip:
        buyer.append(f"NIP {data.buyer_nip}")
    if not buyer:
        buyer = ["(konsument, bez danych)"]
    bottom = top
    for i, (label, rows) in enumerate((("Sprzedawca", seller), ("Nabywca", buyer))):
        pdf.set_xy(pdf.l_margin + i * (width + 6), top)
        pdf.set_font("DejaVu", "B", 10)
        pdf.cell(width, 6, label, new_x="LEFT", new_y="NEXT")
        pdf.set_font("DejaVu", "", 9)
        for row in rows:
            pdf.multi_cell(width, 5, row, new_x="LEFT", new_y="NEXT")
        bottom = max(bottom, pdf.get_y())
    pdf.set_xy(pdf.l_margin, bottom + 4)


def _lines(pdf: _Doc, data: ReceiptData) -> None:
    price = "Cena brutto" if data.amounts_gross else "Cena netto"
    value = "Wartość brutto" if data.amounts_gross else "Wartość netto"
    widths = (9, 71, 18, 14, 24, 28, 16)
    headers = ("Lp.", "Nazwa", "Ilość", "J.m.", price, value, "VAT")
    pdf.set_font("DejaVu", "B", 8)
    pdf.set_fill_color(235, 235, 235)
    for w, h in zip(widths, headers):
        pdf.cell(w, 6, h, border=1, align="C", fill=True)
    pdf.ln()
    pdf.set_fill_color(255, 255, 255)
    pdf.set_font("DejaVu", "", 8)
    n = 0
    for item in data.lines:
        if item.before is not False:
            n += 1
        name = item.name if item.before is None else f"{item.name} ({'przed' if item.before else 'po'} korekcie)"
        cells = (str(n), name, _qty(item.quantity), item.unit, money(item.unit_price), money(item.amount), item.vat_rate)
        with pdf.table(col_widths=widths, text_align=("CENTER", "LEFT", "RIGHT", "CENTER", "RIGHT", "RIGHT", "CENTER"),
                       first_row_as_headings=False, line_height=5, width=sum(widths), align="LEFT") as table:
            table.row(cells)
    pdf.ln(4)


def _summary(pdf: _Doc, data: ReceiptData) -> None:
    widths = (30, 30, 30, 30)
    x = pdf.w - pdf.r_margin - sum(widths)
    pdf.set_font("DejaVu", "B", 8)
    pdf.set_x(x)
    for w, h in zip(widths, ("Stawka", "Netto", "VAT", "Brutto")):
        pdf.cell(w, 6, h, border=1, align="C", fill=True)
    pdf.ln()
    pdf.set_font("DejaVu", "", 8)
    for row in data.vat_summary:
        pdf.set_x(x)
        for w, v in zip(widths, (row.rate, money(row.net), money(row.vat), money(row.gross))):
            pdf.cell(w, 5, v, border=1, align="R")
        pdf.ln()
    pdf.ln(3)
    pdf.set_font("DejaVu", "B", 12)
    if data.correction is not None:
        label = "Do zwrotu" if data.total < 0 else "Do zapłaty" if data.total > 0 else "Różnica"
        amount = abs(data.total)
    else:
        label, amount = "Do zapłaty", data.total
    pdf.cell(0, 7, f"{label}: {money(amount)} {data.currency}", align="R", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("DejaVu", "", 9)
    pdf.cell(0, 5, f"Forma płatności: {data.payment_method}", align="R", new_x="LMARGIN", new_y="NEXT")
    if data.due_date:
        pdf.cell(0, 5, f"Termin płatności: {data.due_date.isoformat()}", align="R", new_x="LMARGIN", new_y="NEXT")
    if data.exemption_basis:
        pdf.multi_cell(0, 5, f"Podstawa zwolnienia z VAT: {data.exemption_basis}", new_x="LMARGIN", new_y="NEXT")
    if data.reverse_charge:
        pdf.cell(0, 5, "Odwrotne obciążenie", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)


def _codes(pdf: _Doc, data: ReceiptData) -> None:
    codes = [(url, caption, label) for url, caption, label in (
        (data.kod1_url, KOD1_CAPTION, data.kod1_label), (data.kod2_url, KOD2_CAPTION, CERTIFICATE_LABEL)) if url]
    if not codes:
        return
    if pdf.get_y() + QR_MM + 20 > pdf.h - pdf.b_margin:
        pdf.add_page()
    top = pdf.get_y()
    col = (pdf.w - pdf.l_margin - pdf.r_margin) / 2
    for i, (url, caption, label) in enumerate(codes):
        x = pdf.l_margin + i * col
        pdf.set_xy(x, top)
        pdf.set_font("DejaVu", "", 8)
        pdf.multi_cell(col - 4, 4, caption, align="C", new_x="LEFT", new_y="NEXT")
        pdf.image(_qr_png(url), x=x + (col - 4 - QR_MM) / 2, y=pdf.get_y() + 1, w=QR_MM, h=QR_MM)
        pdf.set_xy(x, pdf.get_y() + QR_MM + 2)
        pdf.set_font("DejaVu", "B", 9)
        pdf.multi_cell(col - 4, 5, label, align="C")
