"""The day report (raport dobowy) of a day or a till shift, computed from the stored FA(3) bytes.

Why from the XML: the signed document is the invoice; its P_13_x/P_14_x/P_15 are what KSeF and the
buyer see, so the report never recomputes amounts from the POS request. A correction (KOR) states
differences, which the report adds as they are (a return lowers the day's totals).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from lxml import etree

from ..domain.fa3 import safe_parser

ZERO = Decimal("0.00")

# FA(3) net/VAT field pairs per rate, keyed by the rate's short name (the API's VAT rate codes where they exist).
RATE_FIELDS: tuple[tuple[str, str, str | None], ...] = (
    ("23", "P_13_1", "P_14_1"), ("8", "P_13_2", "P_14_2"), ("5", "P_13_3", "P_14_3"),
    ("4", "P_13_4", "P_14_4"), ("oss", "P_13_5", "P_14_5"), ("0", "P_13_6_1", None),
    ("0 wdt", "P_13_6_2", None), ("0 ex", "P_13_6_3", None), ("zw", "P_13_7", None),
    ("np", "P_13_8", None), ("np ii", "P_13_9", None), ("oo", "P_13_10", None), ("marza", "P_13_11", None),
)
PAYMENT_METHODS = {"1": "cash", "2": "card", "3": "voucher", "4": "cheque", "5": "credit", "6": "transfer", "7": "mobile"}
WAITING_STATES = ("issued", "sending", "rejected")  # not yet accepted by KSeF


class StoredXmlError(ValueError):
    """A stored document's amounts cannot be read (the report names it instead of guessing)."""


@dataclass(frozen=True)
class StoredDocument:
    """One outbox row as the report needs it."""

    id: int
    number: str
    kind: str  # "VAT" or "KOR"
    state: str
    deadline: dt.date | None
    xml: bytes


@dataclass
class Amounts:
    net: Decimal = ZERO
    vat: Decimal = ZERO

    @property
    def gross(self) -> Decimal:
        return self.net + self.vat


@dataclass(frozen=True)
class DocumentAmounts:
    """What one stored document adds to the books (also used by the accountant's export)."""

    by_rate: dict[str, Amounts]
    gross: Decimal  # P_15
    payment_method: str  # "cash", "card", ... or "unknown"


@dataclass
class DayReport:
    period: dict[str, str]  # {"date": ...} or {"from": ..., "to": ...}
    invoices: int = 0
    corrections: int = 0
    first_number: str | None = None
    last_number: str | None = None
    by_rate: dict[str, Amounts] = field(default_factory=dict)
    by_payment: dict[str, Decimal] = field(default_factory=dict)
    gross: Decimal = ZERO
    waiting: list[str] = field(default_factory=list)  # numbers of this period's documents not yet in KSeF
    nearest_deadline: dt.date | None = None  # the device's nearest upload deadline (any day)

    @property
    def net(self) -> Decimal:
        return sum((a.net for a in self.by_rate.values()), ZERO)

    @property
    def vat(self) -> Decimal:
        return sum((a.vat for a in self.by_rate.values()), ZERO)

    def to_dict(self) -> dict[str, Any]:
        """JSON for the API: amounts as strings with 2 decimals (never floats)."""
        return {
            "period": self.period,
            "invoices": self.invoices,
            "corrections": self.corrections,
            "first_number": self.first_number,
            "last_number": self.last_number,
            "by_rate": {
                rate: {"net": _money(a.net), "vat": _money(a.vat), "gross": _money(a.gross)}
                for rate, a in self.by_rate.items()
            },
            "by_payment": {method: _money(v) for method, v in self.by_payment.items()},
            "totals": {"net": _money(self.net), "vat": _money(self.vat), "gross": _money(self.gross)},
            "waiting_for_ksef": {"count": len(self.waiting), "numbers": self.waiting[:50]},
            "nearest_deadline": self.nearest_deadline.isoformat() if self.nearest_deadline else None,
        }


def _money(value: Decimal) -> str:
    return f"{value.quantize(Decimal('0.01')):.2f}"


def document_amounts(xml: bytes, number: str = "") -> DocumentAmounts:
    """Per-rate net/VAT, P_15 and the payment method of one stored FA(3) document."""
    try:
        root = etree.fromstring(xml, safe_parser())
    except etree.XMLSyntaxError as exc:
        raise StoredXmlError(f"{number}: stored XML does not parse: {exc}") from None
    ns = {"fa": etree.QName(root).namespace or ""}
    fa = root.find("fa:Fa", ns)
    if fa is None:
        raise StoredXmlError(f"{number}: stored XML has no Fa element")

    def amount(name: str) -> Decimal | None:
        raw = fa.findtext(f"fa:{name}", namespaces=ns)
        if raw is None:
            return None
        try:
            return Decimal(raw.strip())
        except InvalidOperation:
            raise StoredXmlError(f"{number}: {name} is not an amount: {raw!r}") from None

    by_rate: dict[str, Amounts] = {}
    for rate, net_field, vat_field in RATE_FIELDS:
        net = amount(net_field)
        if net is None:
            continue
        vat = (amount(vat_field) if vat_field else None) or ZERO
        by_rate[rate] = Amounts(net, vat)
    code = (fa.findtext("fa:Platnosc/fa:FormaPlatnosci", namespaces=ns) or "").strip()
    return DocumentAmounts(by_rate, amount("P_15") or ZERO, PAYMENT_METHODS.get(code, "unknown"))


def build_day_report(
    documents: list[StoredDocument], *, period: dict[str, str], nearest_deadline: dt.date | None = None
) -> DayReport:
    """Add up `documents` (in issue order) into one report."""
    report = DayReport(period=period, nearest_deadline=nearest_deadline)
    for doc in documents:
        if doc.kind == "KOR":
            report.corrections += 1
        else:
            report.invoices += 1
        report.first_number = report.first_number or doc.number
        report.last_number = doc.number
        amounts = document_amounts(doc.xml, doc.number)
        for rate, a in amounts.by_rate.items():
            total = report.by_rate.setdefault(rate, Amounts())
            total.net += a.net
            total.vat += a.vat
        report.by_payment[amounts.payment_method] = report.by_payment.get(amounts.payment_method, ZERO) + amounts.gross
        report.gross += amounts.gross
        if doc.state in WAITING_STATES:
            report.waiting.append(doc.number)
    order = [rate for rate, _, _ in RATE_FIELDS]
    report.by_rate = dict(sorted(report.by_rate.items(), key=lambda item: order.index(item[0])))
    return report
