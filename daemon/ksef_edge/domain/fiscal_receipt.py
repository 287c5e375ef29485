"""An invoice issued to a sale already on a fiscal receipt (faktura do paragonu).

Why: the sale is already in the cash register's (kasa fiskalna) turnover. The invoice must say so,
or the same sale is counted twice in the VAT records. FA(3) marks such an invoice with `Fa/FP` = 1
("Faktura, o której mowa w art. 109 ust. 3d ustawy", schemat FA(3) annotation), and the receipt is
named in `Fa/DodatkowyOpis` (the XSD's field "for additional data, including data required by law,
for which no other field exists"): FA(3) has no dedicated receipt-number element.
See docs/fiscal-receipts.md for the rules (art. 106b ust. 3 and 5, art. 106h, art. 109 ust. 3d).
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .errors import InvoiceError

if TYPE_CHECKING:
    from lxml import etree

# DodatkowyOpis keys (Klucz). Fixed Polish text: readers (receipt, PDF, search) find them by these.
KEY_RECEIPT_NUMBER = "Numer paragonu fiskalnego"
KEY_CASH_REGISTER = "Numer unikatowy kasy rejestrującej"
KEY_RECEIPT_DATE = "Data paragonu fiskalnego"
KEY_NIP_ON_RECEIPT = "NIP nabywcy na paragonie"
RECEIPT_KEYS = (KEY_RECEIPT_NUMBER, KEY_CASH_REGISTER, KEY_RECEIPT_DATE, KEY_NIP_ON_RECEIPT)

# The unique number of a Polish cash register: 3 letters (producer's prefix) and 8 digits, e.g. "ABC12345678"
# (rozporządzenie w sprawie kryteriów i warunków technicznych kas rejestrujących: "numer unikatowy").
CASH_REGISTER_RE = re.compile(r"^[A-Z]{3}\d{8}$")
RECEIPT_NUMBER_RE = re.compile(r"^[0-9A-Za-z/\-]{1,32}$")
REQUEST_MONTHS = 3  # art. 106b ust. 3: the buyer may ask for the invoice within 3 months from the end of the month


@dataclass(frozen=True)
class FiscalReceipt:
    """The receipt an invoice documents again: its number, the register's unique number and date."""

    number: str  # the receipt's number printed by the register (numer wydruku / paragonu)
    cash_register: str  # numer unikatowy kasy, e.g. "ABC12345678"
    date: dt.date
    buyer_nip_on_receipt: bool  # art. 106b ust. 5: a business buyer's invoice needs the NIP on the receipt

    def __post_init__(self) -> None:
        number = " ".join(str(self.number).split()) if isinstance(self.number, str) else self.number
        if not isinstance(number, str) or not RECEIPT_NUMBER_RE.match(number):
            raise InvoiceError(
                "fiscal_receipt.number", "must be the receipt number as printed (1-32 letters, digits, '/' or '-')"
            )
        register = str(self.cash_register).replace(" ", "").upper() if isinstance(self.cash_register, str) else ""
        if not CASH_REGISTER_RE.match(register):
            raise InvoiceError(
                "fiscal_receipt.cash_register",
                f"{self.cash_register!r} is not a cash register's unique number (3 letters and 8 digits, e.g. ABC12345678, "
                "printed at the foot of the receipt)",
            )
        if not isinstance(self.date, dt.date) or isinstance(self.date, dt.datetime):
            raise InvoiceError("fiscal_receipt.date", "must be a date (YYYY-MM-DD)")
        object.__setattr__(self, "number", number)
        object.__setattr__(self, "cash_register", register)
        object.__setattr__(self, "buyer_nip_on_receipt", bool(self.buyer_nip_on_receipt))

    def descriptions(self) -> list[tuple[str, str]]:
        """The `DodatkowyOpis` (Klucz, Wartosc) pairs naming the receipt on the invoice."""
        return [
            (KEY_RECEIPT_NUMBER, self.number),
            (KEY_CASH_REGISTER, self.cash_register),
            (KEY_RECEIPT_DATE, self.date.isoformat()),
            (KEY_NIP_ON_RECEIPT, "tak" if self.buyer_nip_on_receipt else "nie"),
        ]


def latest_issue_date(receipt_date: dt.date) -> dt.date:
    """The last day an invoice may still be issued on request (end of the 3rd month after the sale's month).

    art. 106b ust. 3 pkt 1: the request must come within 3 months from the end of the month of the sale;
    art. 106i ust. 6 then gives until the 15th of the next month, which the till does not need: it issues at once.
    """
    month = receipt_date.month - 1 + REQUEST_MONTHS + 1  # first day of the month after the 3rd month
    first_after = dt.date(receipt_date.year + month // 12, month % 12 + 1, 1)
    return first_after - dt.timedelta(days=1)


def check_fiscal_receipt(receipt: object, *, issue_date: dt.date, buyer_nip: str | None) -> FiscalReceipt:
    """The rules an invoice to a receipt must meet, with the field to fix."""
    if not isinstance(receipt, FiscalReceipt):
        raise InvoiceError("fiscal_receipt", f"must be a FiscalReceipt, got {type(receipt).__name__}")
    if receipt.date > issue_date:
        raise InvoiceError(
            "fiscal_receipt.date", f"the receipt is dated {receipt.date}, after the invoice's issue date {issue_date}"
        )
    if issue_date > latest_issue_date(receipt.date):
        raise InvoiceError(
            "fiscal_receipt.date",
            f"the receipt of {receipt.date} is too old: an invoice to it could be issued only until "
            f"{latest_issue_date(receipt.date)} (art. 106b ust. 3 ustawy o VAT)",
        )
    if buyer_nip and not receipt.buyer_nip_on_receipt:
        raise InvoiceError(
            "fiscal_receipt.buyer_nip_on_receipt",
            "an invoice with the buyer's NIP may be issued to a receipt only if that NIP was printed on the receipt "
            "(art. 106b ust. 5 ustawy o VAT); issue the invoice without NIP (for a consumer) or refuse it",
        )
    return receipt


def read_fiscal_receipt(pairs: dict[str, str]) -> FiscalReceipt | None:
    """The receipt named by stored `DodatkowyOpis` pairs (Klucz -> Wartosc), or None when there is none."""
    if KEY_RECEIPT_NUMBER not in pairs:
        return None
    try:
        return FiscalReceipt(
            number=pairs[KEY_RECEIPT_NUMBER],
            cash_register=pairs.get(KEY_CASH_REGISTER, ""),
            date=dt.date.fromisoformat(pairs.get(KEY_RECEIPT_DATE, "")),
            buyer_nip_on_receipt=pairs.get(KEY_NIP_ON_RECEIPT) == "tak",
        )
    except (InvoiceError, ValueError):
        return None




def receipt_of_fa(fa: etree._Element) -> FiscalReceipt | None:
    """The receipt a stored invoice's `Fa` element names (FP = 1 and our DodatkowyOpis keys), else None."""
    from lxml import etree

    ns = {"fa": etree.QName(fa).namespace or ""}
    if (fa.findtext("fa:FP", namespaces=ns) or "").strip() != "1":
        return None
    pairs = {
        (item.findtext("fa:Klucz", namespaces=ns) or "").strip(): (item.findtext("fa:Wartosc", namespaces=ns) or "").strip()
        for item in fa.findall("fa:DodatkowyOpis", ns)
    }
    return read_fiscal_receipt(pairs)


def _has_fp(fa: etree._Element) -> bool:
    return any(
        isinstance(el.tag, str) and el.tag.endswith("}FP") and (el.text or "").strip() == "1" for el in fa
    )


def fiscal_receipt_lines(fa: etree._Element) -> tuple[str, ...]:
    """What a receipt or PDF prints for an invoice to a receipt: Polish, short lines (58 mm wraps them)."""
    if not _has_fp(fa):
        return ()
    receipt = receipt_of_fa(fa)
    if receipt is None:  # FP set by another tool without our keys: still say what it is
        return ("Faktura do paragonu fiskalnego",)
    return (
        f"Faktura do paragonu nr {receipt.number}",
        f"z dnia {receipt.date.isoformat()}",
        f"Kasa (nr unikatowy): {receipt.cash_register}",
    )


__all__ = [
    "RECEIPT_KEYS",
    "FiscalReceipt",
    "check_fiscal_receipt",
    "fiscal_receipt_lines",
    "latest_issue_date",
    "read_fiscal_receipt",
    "receipt_of_fa",
]
