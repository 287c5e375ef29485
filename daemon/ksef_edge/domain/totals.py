"""Line amounts and per-rate VAT summaries, as FA(3) and art. 106e of the VAT act expect.

The tax is computed once per rate from the sum of line values, not per line, so the printed
receipt, the XML and the buyer's books agree to the grosz:

* gross-priced invoices (a till; art. 106e ust. 7-8): line value P_11A = round(qty x gross price);
  per rate, gross = sum(P_11A), VAT = round(gross x r / (100 + r)), net = gross - VAT;
* net-priced invoices: line value P_11 = round(qty x net price); per rate, net = sum(P_11),
  VAT = round(net x r / 100), gross = net + VAT.

Rounding is ROUND_HALF_UP to 0.01 (the usual Polish rule). By construction
P_15 = sum(P_13_x) + sum(P_14_x) exactly.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, localcontext
from types import MappingProxyType
from typing import Mapping

from .errors import InvoiceError
from .invoice import Invoice, Line, PriceKind, VatRate

GROSZ = Decimal("0.01")
AMOUNT_MAX = Decimal("9999999999999999.99")  # TKwotowy: 16 integer digits
RATE_ORDER: tuple[VatRate, ...] = (
    VatRate.R23, VatRate.R8, VatRate.R5, VatRate.R0, VatRate.ZW, VatRate.NP, VatRate.OO,
)  # the order of P_13_x in the FA(3) schema


def round_grosz(amount: Decimal) -> Decimal:
    return amount.quantize(GROSZ, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class LineAmount:
    """One invoice line with its value: P_11A (gross-priced) or P_11 (net-priced)."""

    number: int  # NrWierszaFa, 1-based
    line: Line
    value: Decimal  # 2 decimal places; what the XML and the receipt show for the line

    @property
    def gross(self) -> Decimal:
        """Line gross: the value for gross-priced lines, else an informational per-line figure."""
        if self.line.price_kind is PriceKind.GROSS:
            return self.value
        return rate_total(self.line.vat_rate, PriceKind.NET, self.value).gross

    @property
    def net(self) -> Decimal:
        """Line net: the value for net-priced lines, else an informational per-line figure.

        Per-line figures need not add up to the per-rate totals: VAT is computed per rate.
        """
        if self.line.price_kind is PriceKind.NET:
            return self.value
        return rate_total(self.line.vat_rate, PriceKind.GROSS, self.value).net


@dataclass(frozen=True)
class RateTotal:
    net: Decimal  # P_13_x
    vat: Decimal  # P_14_x (0.00 for rates without tax)
    gross: Decimal


@dataclass(frozen=True, eq=False)
class Totals:
    price_kind: PriceKind
    lines: tuple[LineAmount, ...]
    by_rate: Mapping[VatRate, RateTotal]  # only rates present, in FA(3) order
    net: Decimal
    vat: Decimal
    gross: Decimal  # P_15


def line_value(line: Line) -> Decimal:
    with localcontext() as ctx:
        ctx.prec = 80  # exact product of 22-digit quantities and prices before the one rounding
        return round_grosz(line.quantity * line.unit_price)


def rate_total(rate: VatRate, kind: PriceKind, value_sum: Decimal) -> RateTotal:
    """VAT for one rate from the sum of its line values (gross or net per `kind`)."""
    percent = rate.percent
    value_sum = round_grosz(value_sum)
    if not percent:  # 0 %, zw, np, oo: no tax on the invoice
        return RateTotal(net=value_sum, vat=Decimal("0.00"), gross=value_sum)
    if kind is PriceKind.GROSS:
        vat = round_grosz(value_sum * percent / (100 + percent))
        return RateTotal(net=value_sum - vat, vat=vat, gross=value_sum)
    vat = round_grosz(value_sum * percent / 100)
    return RateTotal(net=value_sum, vat=vat, gross=value_sum + vat)


def compute_totals(invoice: Invoice) -> Totals:
    """Line values and per-rate summaries; raises InvoiceError when an amount exceeds FA(3) limits."""
    kind = invoice.price_kind
    lines = []
    sums: dict[VatRate, Decimal] = {}
    for i, line in enumerate(invoice.lines):
        value = line_value(line)
        if value > AMOUNT_MAX:
            raise InvoiceError(f"lines[{i}].quantity", "quantity x price is too large for FA(3)")
        lines.append(LineAmount(number=i + 1, line=line, value=value))
        sums[line.vat_rate] = sums.get(line.vat_rate, Decimal("0.00")) + value
    by_rate = {rate: rate_total(rate, kind, sums[rate]) for rate in RATE_ORDER if rate in sums}
    net = sum((t.net for t in by_rate.values()), Decimal("0.00"))
    vat = sum((t.vat for t in by_rate.values()), Decimal("0.00"))
    gross = sum((t.gross for t in by_rate.values()), Decimal("0.00"))
    if gross > AMOUNT_MAX:
        raise InvoiceError("lines", "the invoice total is too large for FA(3)")
    assert net + vat == gross, "per-rate totals must reconcile exactly"
    return Totals(
        price_kind=kind, lines=tuple(lines), by_rate=MappingProxyType(by_rate), net=net, vat=vat, gross=gross
    )
