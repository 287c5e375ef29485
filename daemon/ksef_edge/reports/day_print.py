"""The day report on the receipt printer (58 or 80 mm): the owner's paper record at closing time.

Laid out as the same `TextLine` blocks as receipts, so the ESC/POS renderer and the PNG preview
print it unchanged; every line fits `columns` (32 on 58 mm, 48 on 80 mm by default).
"""
from __future__ import annotations

import datetime as dt

from ..printing.receipt_layout import Block, TextLine, _kv, clean_text, money, wrap
from .day_report import DayReport

RATE_LABELS = {"23": "23%", "8": "8%", "5": "5%", "0": "0%", "zw": "zw", "np": "np", "oo": "oo (odwr. obc.)"}
PAYMENT_LABELS = {"cash": "gotówka", "card": "karta", "transfer": "przelew", "voucher": "bon", "cheque": "czek",
                  "credit": "kredyt", "mobile": "mobilna", "unknown": "inna"}


def _period_text(report: DayReport) -> str:
    if "date" in report.period:
        return f"Dzień {report.period['date']}"
    start = dt.datetime.fromisoformat(report.period["from"])
    end = dt.datetime.fromisoformat(report.period["to"])
    return f"Zmiana {start:%Y-%m-%d %H:%M} - {end:%Y-%m-%d %H:%M}"


def day_report_blocks(report: DayReport, columns: int, *, printed_at: dt.datetime, codec: str | None = "cp852",
                      seller_name: str = "") -> list[Block]:
    blocks: list[Block] = []

    def text(s: str, **style: bool | str) -> None:
        for line in wrap(clean_text(s, codec), columns):
            blocks.append(TextLine(line, **style))  # type: ignore[arg-type]

    def kv(left: str, right: str, bold: bool = False) -> None:
        for line in _kv(clean_text(left, codec), clean_text(right, codec), columns):
            blocks.append(TextLine(line, bold=bold))

    rule = TextLine("-" * columns)
    if seller_name:
        text(seller_name, bold=True, align="center")
    text("RAPORT DOBOWY FAKTUR", bold=True, align="center", double_height=True)
    text("(nie jest raportem kasy fiskalnej)", align="center")
    text(_period_text(report), align="center")
    blocks.append(rule)
    kv("Faktury:", str(report.invoices))
    kv("Korekty:", str(report.corrections))
    if report.first_number:
        kv("Pierwsza:", report.first_number)
        kv("Ostatnia:", report.last_number or "")
    blocks.append(rule)
    text("Według stawek VAT", bold=True)
    for rate, amounts in report.by_rate.items():
        text(f"Stawka {RATE_LABELS.get(rate, rate)}", bold=True)
        kv("  Netto", money(amounts.net))
        kv("  VAT", money(amounts.vat))
        kv("  Brutto", money(amounts.gross))
    blocks.append(rule)
    kv("RAZEM netto", money(report.net))
    kv("RAZEM VAT", money(report.vat))
    kv("RAZEM brutto", money(report.gross), bold=True)
    blocks.append(rule)
    text("Według formy płatności", bold=True)
    for method, gross in report.by_payment.items():
        kv(f"  {PAYMENT_LABELS.get(method, method)}", money(gross))
    blocks.append(rule)
    if report.waiting:
        kv("Czeka na KSeF:", str(len(report.waiting)), bold=True)
    else:
        text("Wszystkie faktury są w KSeF.")
    if report.nearest_deadline:
        kv("Najbliższy termin wysyłki:", report.nearest_deadline.isoformat(), bold=True)
    blocks.append(rule)
    kv("Wydruk:", printed_at.strftime("%Y-%m-%d %H:%M"))
    return blocks
