"""The invoice as the till knows it: parties, lines, payment. Pure data, Decimal money.

Totals live in `totals.py`, XML in `fa3.py`; this module only holds and checks the input,
so every other layer (store, printer, uplink) speaks one vocabulary.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from enum import Enum

from .errors import InvoiceError
from .nip import validate_nip


class VatRate(str, Enum):
    """VAT rates a Polish till uses, with the FA(3) `P_12` code each maps to."""

    R23 = "23"
    R8 = "8"
    R5 = "5"
    R0 = "0"  # domestic 0 % (FA(3) "0 KR")
    ZW = "zw"  # exempt: needs a legal basis text (P_19A/B/C)
    NP = "np"  # outside Polish VAT (FA(3) "np I")
    OO = "oo"  # reverse charge (FA(3) "oo")

    @property
    def percent(self) -> Decimal | None:
        """The numeric rate, or None for rates without tax (zw, np, oo)."""
        return Decimal(self.value) if self.value.isdigit() else None

    @classmethod
    def parse(cls, raw: object, field_name: str = "vat_rate") -> "VatRate":
        text = str(raw).strip().lower().removesuffix("%")
        for rate in cls:
            if rate.value == text:
                return rate
        raise InvoiceError(field_name, f"unknown VAT rate {raw!r}; use one of 23, 8, 5, 0, zw, np, oo")


class PriceKind(str, Enum):
    GROSS = "gross"  # typical at a till: the shelf price includes VAT
    NET = "net"


class PaymentMethod(str, Enum):
    CASH = "cash"
    CARD = "card"
    TRANSFER = "transfer"

    @property
    def fa3_code(self) -> str:
        """FA(3) `FormaPlatnosci`: 1 gotówka, 2 karta, 6 przelew."""
        return {"cash": "1", "card": "2", "transfer": "6"}[self.value]

    @property
    def label_pl(self) -> str:
        return {"cash": "gotówka", "card": "karta", "transfer": "przelew"}[self.value]


@dataclass(frozen=True)
class Address:
    line1: str
    line2: str | None = None
    country: str = "PL"


@dataclass(frozen=True)
class Party:
    """Seller (always with NIP) or buyer (NIP optional: B2C)."""

    name: str
    address: Address | None = None
    nip: str | None = None

    def __post_init__(self) -> None:
        if self.nip is not None:
            validate_nip(self.nip)


@dataclass(frozen=True)
class Line:
    name: str
    quantity: Decimal
    unit_price: Decimal
    vat_rate: VatRate
    price_kind: PriceKind = PriceKind.GROSS
    unit: str = "szt"


@dataclass(frozen=True)
class Payment:
    method: PaymentMethod
    paid: bool = True  # paid at the till (cash/card); transfer usually has a due date
    due_date: dt.date | None = None


@dataclass(frozen=True)
class Invoice:
    """One VAT invoice as issued at the till.

    `number` (P_2) and `issue_date` (P_1) are set by the issuing service in the same transaction
    that stores the invoice; `created_at` becomes `DataWytworzeniaFa`.
    """

    seller: Party
    buyer: Party | None
    lines: tuple[Line, ...]
    payment: Payment
    number: str
    issue_date: dt.date
    created_at: dt.datetime
    currency: str = "PLN"
    exemption_basis: str | None = None  # required when any line is `zw`
    place_of_issue: str | None = None
    extra: dict[str, str] = field(default_factory=dict)
