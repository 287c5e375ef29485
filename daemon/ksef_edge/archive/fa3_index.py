"""The accountant's columns read back from stored FA(3) bytes: buyer NIP and the totals.

Read from the XML (not recomputed) because the XML is the legal invoice (`domain.fa3.read_totals`);
gross = P_15, or net + VAT if the file has none.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from lxml import etree

from ..domain.fa3 import FA3_NS, read_totals, safe_parser


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
    net, vat, gross = read_totals(fa)
    return IndexFields(
        number=(fa.findtext("fa:P_2", "", ns) or "").strip(),
        issue_date=(fa.findtext("fa:P_1", "", ns) or "").strip(),
        kind=(fa.findtext("fa:RodzajFaktury", "", ns) or "").strip(),
        buyer_nip=(root.findtext("fa:Podmiot2/fa:DaneIdentyfikacyjne/fa:NIP", "", ns) or "").strip(),
        buyer_name=(root.findtext("fa:Podmiot2/fa:DaneIdentyfikacyjne/fa:Nazwa", "", ns) or "").strip(),
        net=net.quantize(Decimal("0.01")),
        vat=vat.quantize(Decimal("0.01")),
        gross=(gross if gross is not None else net + vat).quantize(Decimal("0.01")),
    )
