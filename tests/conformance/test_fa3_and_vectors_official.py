"""Official FA(3) invoices and the official test vectors (tests/conformance/, SOURCES.md) through the
product's own readers: the FA(3) validator, the duplicate-key reader, the totals reader, the receipt
reader, KOD I/KOD II and the KSeF number check. Expected values are parsed from the copied
`test-vectors.md` where it states them, so the oracle is the official text, not the product.
"""
from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from pathlib import Path

import pytest
from lxml import etree

from ksef_edge.domain.errors import SchemaError
from ksef_edge.domain.fa3 import (
    FA3_NS,
    invoice_summary,
    read_totals,
    safe_parser,
    validate_fa3,
)
from ksef_edge.domain.ksef_number import is_valid_ksef_number
from ksef_edge.domain.qr import (
    QrEnvironment,
    kod1_url,
    kod1_url_for_hash,
    kod2_sign_string,
    sha256_b64url,
)
from ksef_edge.printing.fa3_receipt import receipt_from_fa3

HERE = Path(__file__).parent
VECTORS = (HERE / "test-vectors.md").read_text("utf-8")
INVOICE = (HERE / "invoices" / "invoice.xml").read_bytes()
TEMPLATE = (HERE / "invoices" / "invoice-template-fa-3.xml").read_bytes()


def vector(label: str) -> str:
    """The value in the TV-10 table row `| label | `value` |`."""
    m = re.search(r"^\| " + re.escape(label) + r" \| `([^`]+)` \|", VECTORS, re.MULTILINE)
    assert m, label
    return m.group(1)


def test_official_invoice_is_valid_fa3_and_its_duplicate_key_is_read():
    validate_fa3(INVOICE)
    s = invoice_summary(INVOICE)
    assert (s.seller_nip, s.issue_date, s.number, s.kind) == ("5265877635", dt.date(2025, 10, 31),
                                                                "FA/YUCFO-4342344706/03/2026", "VAT")  # TV-10 header


def test_official_invoice_hash_and_kod1_match_tv10():
    assert sha256_b64url(INVOICE) == vector("SHA-256, Base64URL (QR)")
    assert kod1_url(QrEnvironment.TEST, "5265877635", dt.date(2025, 10, 31), INVOICE) == vector("KOD I (TE)")
    sign = kod2_sign_string(QrEnvironment.TEST, "Nip", "5265877635", "5265877635", "01F20A5D352AE590",
                            sha256_b64url(INVOICE))
    assert sign == vector("KOD II string-to-sign (TE, ctx Nip=seller, serial 01F20A5D352AE590)")


def test_tv1_kod1_url_from_the_official_inputs():
    expected = re.search(r"## TV-1.*?```\n(https://[^\n]+)\n```", VECTORS, re.DOTALL).group(1)
    assert kod1_url_for_hash(QrEnvironment.TEST, "1111111111", dt.date(2026, 2, 1),
                             "UtQp9Gpc51y-u3xApZjIjgkpZ01js-J8KflSPW8WzIE") == expected


def test_official_invoice_totals_are_read_as_the_document_states_them():
    fa = etree.fromstring(INVOICE, safe_parser()).find(f"{{{FA3_NS}}}Fa")
    totals = read_totals(fa)
    assert totals.gross == Decimal(fa.findtext(f"{{{FA3_NS}}}P_15"))
    p13 = sum(Decimal(e.text) for e in fa if etree.QName(e).localname.startswith("P_13_"))
    assert totals.net == p13


def test_official_invoice_is_read_back_for_a_receipt():
    data = receipt_from_fa3(INVOICE, kod1_url=vector("KOD I (TE)"), kod2_url=None)
    text = repr(data)
    assert "FA/YUCFO-4342344706/03/2026" in text and "5265877635" in text


def test_official_template_validates_once_filled_and_not_before():
    with pytest.raises(SchemaError):
        validate_fa3(TEMPLATE)  # TV-9: placeholders fail the NIP pattern
    validate_fa3(TEMPLATE.replace(b"#nip#", b"5265877635").replace(b"#invoice_number#", b"1"))


def test_tv4_official_ksef_numbers_pass_and_a_wrong_crc_fails():
    numbers = re.findall(r"^\| `(\d{10}-\d{8}-[0-9A-F]{12}-[0-9A-F]{2})` \|", VECTORS, re.MULTILINE)
    assert len(numbers) == 5, numbers
    for n in numbers:
        assert is_valid_ksef_number(n), n
        assert not is_valid_ksef_number(n[:-2] + ("00" if n[-2:] != "00" else "01"))
