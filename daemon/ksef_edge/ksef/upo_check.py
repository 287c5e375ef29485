"""Accept a UPO only if it is valid v4-3 and names our exact invoice (hash) under its KSeF number."""
from __future__ import annotations

from lxml import etree

from ..domain.errors import SchemaError
from ..domain.fa3 import UPO_NS, safe_parser, validate_upo
from .errors import KsefProtocolError


def check_upo(xml: bytes, *, invoice_hash_b64: str, ksef_number: str) -> None:
    """Raise KsefProtocolError unless the UPO validates and confirms this invoice."""
    try:
        validate_upo(xml)
    except SchemaError as exc:
        raise KsefProtocolError(f"UPO rejected: {exc}") from exc
    root = etree.fromstring(xml, safe_parser())
    for doc in root.iterfind(f"{{{UPO_NS}}}Dokument"):
        digest = (doc.findtext(f"{{{UPO_NS}}}SkrotDokumentu") or "").strip()
        number = (doc.findtext(f"{{{UPO_NS}}}NumerKSeFDokumentu") or "").strip()
        if digest == invoice_hash_b64 and number == ksef_number:
            return
    raise KsefProtocolError(
        f"UPO does not confirm invoice hash {invoice_hash_b64} with KSeF number {ksef_number}")
