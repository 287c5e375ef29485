"""Builders for domain test data (used by tests/test_domain_*.py; others may reuse them)."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

from ksef_edge.domain.invoice import Address, Invoice, Line, Party, Payment, PaymentMethod, PriceKind, VatRate

SELLER = Party("Piekarnia „Złoty Kłos” Zażółć Gęślą Jaźń sp. z o.o.",
               Address("ul. Kępa 332", "20-892 Tyszowce"), "5265877635")
BUYER_B2B = Party("F.H.U. Jan Kowalski", Address("ul. Polna 1", "00-001 Warszawa"), "6808208874")
CREATED_AT = dt.datetime(2025, 10, 31, 9, 15, tzinfo=dt.timezone.utc)
ISSUE_DATE = dt.date(2025, 10, 31)


def line(name: str = "Chleb żytni", quantity: str = "1", price: str = "4.99", rate: str = "23",
         kind: PriceKind = PriceKind.GROSS, unit: str = "szt") -> Line:
    return Line(name, Decimal(quantity), Decimal(price), VatRate.parse(rate), kind, unit)


def invoice(*lines: Line, **changes: object) -> Invoice:
    fields: dict[str, object] = dict(
        seller=SELLER, buyer=None, lines=lines or (line(),), payment=Payment(PaymentMethod.CARD),
        number="FV/2025/10/0001", issue_date=ISSUE_DATE, created_at=CREATED_AT,
    )
    fields.update(changes)
    return Invoice(**fields)  # type: ignore[arg-type]
