"""The invoice as the till knows it: parties, lines, payment. Pure data, Decimal money.

Totals live in `totals.py`, XML in `fa3.py`; this module only holds and checks the input,
so every other layer (store, printer, uplink) speaks one vocabulary.

Constructing an `Invoice` validates and normalises it (strings collapsed, money coerced to
`Decimal`), so an `Invoice` that exists is one `build_fa3` can turn into valid FA(3). Errors name
the field as a JSON-style path with 0-based indexes (`lines[2].quantity`), because that is what the
local API receives.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from enum import Enum

from .errors import InvoiceError
from .fiscal_receipt import FiscalReceipt, check_fiscal_receipt
from .nip import is_valid_nip

LINES_MAX = 10_000  # FaWiersz maxOccurs
TEXT_MAX = 256  # FA(3) TZnakowy
NAME_MAX = 512  # FA(3) TZnakowy512 (names, addresses, P_7)
QUANTITY_DECIMALS_MAX = 6  # TIlosci
PRICE_DECIMALS_MAX = 8  # TKwotowy2
AMOUNT_INTEGER_DIGITS_MAX = 14  # TKwotowy2 allows 14 integer digits; amounts (TKwotowy) 16
EARLIEST_CREATED_AT = dt.datetime(2025, 9, 1, tzinfo=dt.timezone.utc)  # DataWytworzeniaFa minInclusive


class VatRate(str, Enum):
    """VAT rates a Polish till uses, with the FA(3) `P_12` code each maps to."""

    R23 = "23"
    R8 = "8"
    R5 = "5"
    R0 = "0"  # domestic 0 % (FA(3) "0 KR")
    ZW = "zw"  # exempt: needs a legal basis text (P_19A)
    NP = "np"  # outside Polish VAT (FA(3) "np I")
    OO = "oo"  # reverse charge (FA(3) "oo"): the buyer (with NIP) settles the VAT

    @property
    def percent(self) -> Decimal | None:
        """The numeric rate, or None for rates without tax (zw, np, oo)."""
        return Decimal(self.value) if self.value.isdigit() else None

    @property
    def fa3_code(self) -> str:
        """FA(3) `P_12` (TStawkaPodatku) value."""
        return {"0": "0 KR", "np": "np I"}.get(self.value, self.value)

    @property
    def label(self) -> str:
        """How a receipt prints the rate."""
        return f"{self.value}%" if self.value.isdigit() else self.value

    @classmethod
    def parse(cls, raw: object, field_name: str = "vat_rate") -> "VatRate":
        if isinstance(raw, cls):
            return raw
        text = str(raw).strip().lower().removesuffix("%").strip()
        aliases = {"0 kr": "0", "np i": "np", "23.00": "23", "8.00": "8", "5.00": "5", "0.00": "0"}
        text = aliases.get(text, text)
        rate = cls._value2member_map_.get(text)  # a dict lookup: iterating an Enum is slow on the issue path
        if isinstance(rate, cls):
            return rate
        raise InvoiceError(field_name, f"unknown VAT rate {raw!r}; use one of 23, 8, 5, 0, zw, np, oo")


class PriceKind(str, Enum):
    GROSS = "gross"  # typical at a till: the shelf price includes VAT (FA(3) P_9B/P_11A)
    NET = "net"  # B2B price lists (FA(3) P_9A/P_11)


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
    line1: str  # street and number, e.g. "ul. Kwiatowa 1 m. 2"
    line2: str | None = None  # postcode and town, e.g. "00-001 Warszawa"
    country: str = "PL"


@dataclass(frozen=True)
class Party:
    """Seller (always with NIP and address) or buyer (NIP optional: B2C). Checked by `Invoice`."""

    name: str
    address: Address | None = None
    nip: str | None = None


@dataclass(frozen=True)
class Line:
    name: str
    quantity: Decimal
    unit_price: Decimal  # gross or net per `price_kind`, up to 8 decimal places
    vat_rate: VatRate
    price_kind: PriceKind = PriceKind.GROSS
    unit: str = "szt"


@dataclass(frozen=True)
class Payment:
    method: PaymentMethod
    paid: bool = True  # paid at the till (cash/card); transfer usually has a due date
    due_date: dt.date | None = None
    paid_date: dt.date | None = None  # defaults to the issue date when `paid`


@dataclass(frozen=True)
class Invoice:
    """One VAT invoice as issued at the till.

    `number` (P_2) and `issue_date` (P_1) are set by the issuing service in the same transaction
    that stores the invoice; `created_at` (aware) becomes `DataWytworzeniaFa`.
    """

    seller: Party
    buyer: Party | None
    lines: tuple[Line, ...]
    payment: Payment
    number: str
    issue_date: dt.date
    created_at: dt.datetime
    currency: str = "PLN"
    exemption_basis: str | None = None  # required when any line is `zw`, e.g. "art. 43 ust. 1 pkt 37 ustawy o VAT"
    place_of_issue: str | None = None  # P_1M
    split_payment: bool = False  # P_18A "mechanizm podzielonej płatności"
    extra: dict[str, str] = field(default_factory=dict)  # DodatkowyOpis key/value pairs
    fiscal_receipt: FiscalReceipt | None = None  # set: an invoice to this receipt (FA(3) FP = 1)

    def __post_init__(self) -> None:
        _check_invoice(self)

    @property
    def price_kind(self) -> PriceKind:
        return self.lines[0].price_kind

    @property
    def rates(self) -> frozenset[VatRate]:
        return frozenset(line.vat_rate for line in self.lines)


# --- validation and normalisation -------------------------------------------------------------

# Characters KSeF rejects: not allowed in XML 1.0, or "discouraged" (protocol.md §9.1).
_BAD_CHARS = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x84\x86-\x9f\ud800-\udfff\ufdd0-\ufdef\ufffe\uffff]"
    "|[\U0001fffe\U0001ffff\U0002fffe\U0002ffff\U0003fffe\U0003ffff\U0004fffe\U0004ffff"
    "\U0005fffe\U0005ffff\U0006fffe\U0006ffff\U0007fffe\U0007ffff\U0008fffe\U0008ffff"
    "\U0009fffe\U0009ffff\U000afffe\U000affff\U000bfffe\U000bffff\U000cfffe\U000cffff"
    "\U000dfffe\U000dffff\U000efffe\U000effff\U000ffffe\U000fffff\U0010fffe\U0010ffff]"
)


def clean_text(value: object, field_name: str, *, max_len: int = TEXT_MAX, required: bool = True) -> str | None:
    """Collapse whitespace (FA(3) uses xsd:token) and reject characters KSeF refuses."""
    if value is None:
        if required:
            raise InvoiceError(field_name, "is required")
        return None
    if not isinstance(value, str):
        raise InvoiceError(field_name, f"must be text, got {type(value).__name__}")
    bad = _BAD_CHARS.search(value)
    if bad:
        raise InvoiceError(
            field_name, f"contains a control or non-character U+{ord(bad.group()):04X} that KSeF rejects; remove it"
        )
    text = " ".join(value.split())
    if not text:
        if required:
            raise InvoiceError(field_name, "must not be empty")
        return None
    if len(text) > max_len:
        raise InvoiceError(field_name, f"is {len(text)} characters long; FA(3) allows at most {max_len}")
    return text


def to_decimal(value: object, field_name: str) -> Decimal:
    """Money and quantities are Decimal; floats are refused because they cannot hold 0.10 exactly."""
    if isinstance(value, bool) or isinstance(value, float):
        raise InvoiceError(field_name, f"must be a Decimal, int or string such as '12.50', not {type(value).__name__}")
    try:
        number = value if isinstance(value, Decimal) else Decimal(str(value).strip().replace(",", "."))
    except (InvalidOperation, ValueError):
        raise InvoiceError(field_name, f"{value!r} is not a number") from None
    if not number.is_finite():
        raise InvoiceError(field_name, f"{value!r} is not a finite number")
    return number


def _decimals(number: Decimal) -> int:
    exponent = number.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def _integer_digits(number: Decimal) -> int:
    return len(str(int(abs(number)))) if abs(number) >= 1 else 0


def _check_nip(nip: object, field_name: str) -> str:
    if not isinstance(nip, str):
        raise InvoiceError(field_name, f"must be a 10-digit string, got {type(nip).__name__}")
    digits = nip.replace("-", "").replace(" ", "").strip()
    if digits.upper().startswith("PL"):
        digits = digits[2:]
    if not is_valid_nip(digits):
        raise InvoiceError(field_name, f"{nip!r} is not a valid NIP (10 digits with a correct checksum); check for a typo")
    return digits


def _check_address(address: object, prefix: str, *, required: bool) -> Address | None:
    if address is None:
        if required:
            raise InvoiceError(prefix, "is required (street line and postcode/town)")
        return None
    if not isinstance(address, Address):
        raise InvoiceError(prefix, f"must be an Address, got {type(address).__name__}")
    country = address.country.strip().upper() if isinstance(address.country, str) else address.country
    if not isinstance(country, str) or not re.fullmatch("[A-Z]{2}", country):
        raise InvoiceError(f"{prefix}.country", f"{address.country!r} is not a 2-letter ISO country code such as 'PL'")
    return Address(
        line1=clean_text(address.line1, f"{prefix}.line1", max_len=NAME_MAX),  # type: ignore[arg-type]
        line2=clean_text(address.line2, f"{prefix}.line2", max_len=NAME_MAX, required=False),
        country=country,
    )


def _check_party(party: object, prefix: str, *, seller: bool) -> Party:
    if not isinstance(party, Party):
        raise InvoiceError(prefix, f"must be a Party, got {type(party).__name__}")
    nip = party.nip
    if seller and not nip:
        raise InvoiceError(f"{prefix}.nip", "the seller's NIP is required")
    if nip is not None:
        nip = _check_nip(nip, f"{prefix}.nip")
    name = clean_text(party.name, f"{prefix}.name", max_len=NAME_MAX, required=seller or nip is not None)
    address = _check_address(party.address, f"{prefix}.address", required=seller)
    return Party(name=name or "", address=address, nip=nip)


def _check_line(line: object, i: int) -> Line:
    prefix = f"lines[{i}]"
    if not isinstance(line, Line):
        raise InvoiceError(prefix, f"must be a Line, got {type(line).__name__}")
    name = clean_text(line.name, f"{prefix}.name", max_len=NAME_MAX)
    quantity = to_decimal(line.quantity, f"{prefix}.quantity")
    if quantity <= 0:
        raise InvoiceError(f"{prefix}.quantity", f"must be greater than 0, got {quantity} (line {i + 1}, {name!r})")
    if _decimals(quantity) > QUANTITY_DECIMALS_MAX:
        raise InvoiceError(f"{prefix}.quantity", f"{quantity} has more than {QUANTITY_DECIMALS_MAX} decimal places")
    price = to_decimal(line.unit_price, f"{prefix}.unit_price")
    if price < 0:
        raise InvoiceError(
            f"{prefix}.unit_price", f"must not be negative, got {price} (line {i + 1}, {name!r}); use a correction invoice"
        )
    if _decimals(price) > PRICE_DECIMALS_MAX:
        raise InvoiceError(f"{prefix}.unit_price", f"{price} has more than {PRICE_DECIMALS_MAX} decimal places")
    if _integer_digits(price) > AMOUNT_INTEGER_DIGITS_MAX or _integer_digits(quantity) > 16:
        raise InvoiceError(f"{prefix}.unit_price", "is too large for FA(3)")
    rate = VatRate.parse(line.vat_rate, f"{prefix}.vat_rate")
    try:
        kind = PriceKind(line.price_kind)
    except ValueError:
        raise InvoiceError(f"{prefix}.price_kind", f"{line.price_kind!r} is not 'gross' or 'net'") from None
    unit = clean_text(line.unit, f"{prefix}.unit", max_len=TEXT_MAX)
    return Line(name=name, quantity=quantity, unit_price=price, vat_rate=rate, price_kind=kind, unit=unit)  # type: ignore[arg-type]


def _check_payment(payment: object, issue_date: dt.date) -> Payment:
    if not isinstance(payment, Payment):
        raise InvoiceError("payment", f"must be a Payment, got {type(payment).__name__}")
    try:
        method = PaymentMethod(payment.method)
    except ValueError:
        raise InvoiceError("payment.method", f"{payment.method!r} is not one of cash, card, transfer") from None
    for name in ("due_date", "paid_date"):
        value = getattr(payment, name)
        if value is not None and (not isinstance(value, dt.date) or isinstance(value, dt.datetime)):
            raise InvoiceError(f"payment.{name}", "must be a date (YYYY-MM-DD)")
    paid_date = payment.paid_date
    if payment.paid:
        paid_date = paid_date or issue_date
        if paid_date > issue_date:
            raise InvoiceError("payment.paid_date", "a payment recorded as made cannot be dated after the issue date")
    elif paid_date is not None:
        raise InvoiceError("payment.paid_date", "is set but the payment is not marked paid")
    if payment.due_date is not None and payment.due_date < issue_date and not payment.paid:
        raise InvoiceError("payment.due_date", "is before the issue date")
    return Payment(method=method, paid=bool(payment.paid), due_date=payment.due_date, paid_date=paid_date)


def _check_invoice(inv: Invoice) -> None:
    setf = lambda name, value: object.__setattr__(inv, name, value)  # noqa: E731 - frozen dataclass normalisation
    setf("seller", _check_party(inv.seller, "seller", seller=True))
    if inv.buyer is not None:
        setf("buyer", _check_party(inv.buyer, "buyer", seller=False))
    if isinstance(inv.lines, (str, bytes)) or not hasattr(inv.lines, "__iter__"):
        raise InvoiceError("lines", "must be a list of lines")
    lines = tuple(inv.lines)
    if not lines:
        raise InvoiceError("lines", "an invoice needs at least one line")
    if len(lines) > LINES_MAX:
        raise InvoiceError("lines", f"has {len(lines)} lines; FA(3) allows at most {LINES_MAX}")
    lines = tuple(_check_line(line, i) for i, line in enumerate(lines))
    for i, line in enumerate(lines):
        if line.price_kind is not lines[0].price_kind:
            raise InvoiceError(
                f"lines[{i}].price_kind",
                f"is {line.price_kind.value!r} but line 1 is {lines[0].price_kind.value!r}; "
                "one invoice uses either gross or net prices",
            )
    setf("lines", lines)
    if not isinstance(inv.issue_date, dt.date) or isinstance(inv.issue_date, dt.datetime):
        raise InvoiceError("issue_date", "must be a date (YYYY-MM-DD), not a datetime")
    if not dt.date(2006, 1, 1) <= inv.issue_date <= dt.date(2050, 1, 1):
        raise InvoiceError("issue_date", f"{inv.issue_date} is outside the range FA(3) accepts")
    if not isinstance(inv.created_at, dt.datetime) or inv.created_at.utcoffset() is None:
        raise InvoiceError("created_at", "must be a timezone-aware datetime")
    if inv.created_at < EARLIEST_CREATED_AT:
        raise InvoiceError("created_at", "FA(3) accepts DataWytworzeniaFa from 2025-09-01; check the device clock")
    setf("number", clean_text(inv.number, "number", max_len=TEXT_MAX))
    if inv.currency != "PLN":
        raise InvoiceError("currency", f"{inv.currency!r} is not supported; ksef-edge issues PLN invoices only")
    setf("payment", _check_payment(inv.payment, inv.issue_date))
    basis = clean_text(inv.exemption_basis, "exemption_basis", required=False)
    rates = {line.vat_rate for line in lines}
    if VatRate.ZW in rates and basis is None:
        i = next(i for i, line in enumerate(lines) if line.vat_rate is VatRate.ZW)
        raise InvoiceError(
            "exemption_basis",
            f"line {i + 1} is VAT-exempt (zw): give the legal basis, e.g. 'art. 43 ust. 1 pkt 37 ustawy o VAT'",
        )
    setf("exemption_basis", basis)
    if VatRate.OO in rates and (inv.buyer is None or inv.buyer.nip is None):
        raise InvoiceError("buyer.nip", "reverse charge (oo) lines need a buyer with a NIP: the buyer settles the VAT")
    setf("place_of_issue", clean_text(inv.place_of_issue, "place_of_issue", required=False))
    extra = {}
    for key, value in dict(inv.extra).items():
        k = clean_text(key, "extra", max_len=TEXT_MAX)
        extra[k] = clean_text(value, f"extra[{key!r}]", max_len=TEXT_MAX)
    setf("extra", extra)
    setf("split_payment", bool(inv.split_payment))
    if inv.fiscal_receipt is not None:
        check_fiscal_receipt(inv.fiscal_receipt, issue_date=inv.issue_date, buyer_nip=inv.buyer.nip if inv.buyer else None)


def replace(invoice: Invoice, **changes: object) -> Invoice:
    """`dataclasses.replace` that re-validates (e.g. to set number and issue date at commit)."""
    return dataclasses.replace(invoice, **changes)  # type: ignore[arg-type]
