"""The accountant's columns read back from stored FA(3) bytes: buyer NIP and the totals.

Read from the XML (not recomputed) because the XML is the legal invoice. Net = sum of the P_13_x
fields (every rate, including 0%, exempt, not taxable and reverse charge), VAT = P_14_1..P_14_5 (in
PLN; the *W fields exist only for foreign currency, which this device never issues), gross = P_15.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from lxml import etree

from ..domain.fa3 import FA3_NS, safe_parser

_NET = re.compile(r"^P_13_\d+(_\d+)?$")
_VAT = re.compile(r"^P_14_[1-5]$")


@dataclass(frozen=True)
class IndexFields:
    number: str
    issue_date: str
    kind: str
    buyer_nip: str
    buyer_name: str
    net: Decimal
    vat: Decimal
    gross: Decimal


def index_fields(xml: bytes) -> IndexFields:
    """Raises ValueError naming the problem when the bytes are not a readable FA(3) invoice."""
    try:
        root = etree.fromstring(xml, safe_parser())
    except etree.XMLSyntaxError as exc:
        raise ValueError(f"not well-formed XML: {exc}") from None
    ns = {"fa": FA3_NS}
    fa = root.find("fa:Fa", ns)
    if fa is None:
        raise ValueError("no <Fa> element: not an FA(3) invoice")

    def amount(el: etree._Element) -> Decimal:
        try:
            return Decimal((el.text or "").strip())
        except InvalidOperation:
            raise ValueError(f"{etree.QName(el).localname} is not an amount: {el.text!r}") from None

    net = sum((amount(el) for el in fa if isinstance(el.tag, str) and _NET.match(etree.QName(el).localname)), Decimal(0))
    vat = sum((amount(el) for el in fa if isinstance(el.tag, str) and _VAT.match(etree.QName(el).localname)), Decimal(0))
    p15 = fa.find("fa:P_15", ns)
    return IndexFields(
        number=(fa.findtext("fa:P_2", "", ns) or "").strip(),
        issue_date=(fa.findtext("fa:P_1", "", ns) or "").strip(),
        kind=(fa.findtext("fa:RodzajFaktury", "", ns) or "").strip(),
        buyer_nip=(root.findtext("fa:Podmiot2/fa:DaneIdentyfikacyjne/fa:NIP", "", ns) or "").strip(),
        buyer_name=(root.findtext("fa:Podmiot2/fa:DaneIdentyfikacyjne/fa:Nazwa", "", ns) or "").strip(),
        net=net.quantize(Decimal("0.01")),
        vat=vat.quantize(Decimal("0.01")),
        gross=(amount(p15) if p15 is not None else net + vat).quantize(Decimal("0.01")),
    )
