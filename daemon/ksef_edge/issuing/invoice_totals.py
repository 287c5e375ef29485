"""Net, VAT and gross of a stored invoice, read from its FA(3) bytes (the signed document, never recomputed).

Net is the sum of the P_13_x fields, VAT the sum of P_14_x, gross is P_15 (`domain.fa3.read_totals`).
For a correction (KOR) these are the differences the correction makes (negative for a return), as FA(3)
defines them. Decimal throughout; the API sends strings.
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from decimal import Decimal

from lxml import etree

from ..domain.fa3 import read_totals, safe_parser
from ..domain.totals import Totals

CACHE_MAX = 4096


class TotalsReadError(ValueError):
    """The stored bytes have no readable FA(3) totals."""


@dataclass(frozen=True)
class InvoiceTotals:
    net: Decimal
    vat: Decimal
    gross: Decimal

    def to_json(self) -> dict[str, str]:
        return {"net": str(self.net), "vat": str(self.vat), "gross": str(self.gross), "currency": "PLN"}

    @classmethod
    def of(cls, totals: Totals) -> "InvoiceTotals":
        """The totals of a document just built, as its FA(3) bytes state them: the sums `read_totals`
        reads back (P_13_x, P_14_x, P_15), each written with 2 decimal places."""
        return cls(net=_as_written(totals.net), vat=_as_written(totals.vat), gross=_as_written(totals.gross))


def _as_written(value: Decimal) -> Decimal:
    return Decimal(f"{value:.2f}")  # domain.fa3._amount: TKwotowy


def totals_from_fa3(xml: bytes) -> InvoiceTotals:
    try:
        root = etree.fromstring(xml, safe_parser())
    except etree.XMLSyntaxError as exc:
        raise TotalsReadError(f"stored XML does not parse: {exc}") from None
    fa = next((el for el in root if etree.QName(el).localname == "Fa"), None)
    if fa is None:
        raise TotalsReadError("stored XML is not an FA(3) invoice (no Fa element)")
    try:
        net, vat, gross = read_totals(fa)
    except ValueError as exc:
        raise TotalsReadError(str(exc)) from None
    if gross is None:
        raise TotalsReadError("stored XML has no P_15 (gross total)")
    return InvoiceTotals(net=net, vat=vat, gross=gross)


class TotalsCache:
    """Totals by (id, sha256): a stored invoice's bytes never change, so each is parsed once."""

    def __init__(self, maximum: int = CACHE_MAX) -> None:
        self._items: OrderedDict[tuple[int, bytes], InvoiceTotals] = OrderedDict()
        self._max = maximum

    def get(self, invoice_id: int, sha256: bytes) -> InvoiceTotals | None:
        key = (invoice_id, sha256)
        hit = self._items.get(key)
        if hit is not None:
            self._items.move_to_end(key)
        return hit

    def put(self, invoice_id: int, sha256: bytes, totals: InvoiceTotals) -> None:
        self._items[(invoice_id, sha256)] = totals
        self._items.move_to_end((invoice_id, sha256))
        while len(self._items) > self._max:
            self._items.popitem(last=False)
