"""A reprint reads the stored FA(3) bytes: same receipt as at issuance; the official sample invoice lays out too."""
from __future__ import annotations

from decimal import Decimal

import pytest

from ksef_edge.domain.fa3 import build_fa3
from ksef_edge.domain.totals import compute_totals
from ksef_edge.printing.fa3_receipt import Fa3ReadError, receipt_from_fa3
from ksef_edge.printing.receipt_layout import TextLine, layout, receipt_from_invoice
from printing_fixtures import KOD1_OFFICIAL, KOD2_OFFICIAL_RSA, KSEF_NUMBER, till_invoice


def test_receipt_from_stored_xml_equals_receipt_from_the_invoice():
    inv = till_invoice()
    xml = build_fa3(inv, system_info="ksef-edge test")
    links = {"kod1_url": KOD1_OFFICIAL, "kod2_url": KOD2_OFFICIAL_RSA}
    from_xml = receipt_from_fa3(xml, **links, ksef_number=KSEF_NUMBER, copy=True)
    from_invoice = receipt_from_invoice(inv, compute_totals(inv), **links, ksef_number=KSEF_NUMBER, copy=True)
    assert from_xml == from_invoice
    assert layout(from_xml, 32) == layout(from_invoice, 32)


def test_official_sample_invoice_lays_out(official_dir):
    xml = (official_dir / "invoice.xml").read_bytes()
    data = receipt_from_fa3(xml, kod1_url=KOD1_OFFICIAL, kod2_url=None)
    assert data.seller_nip == "5265877635" and data.buyer_nip == "6808208874"
    assert data.invoice_number == "FA/YUCFO-4342344706/03/2026"
    assert data.total == Decimal("33569.50")
    assert [(r.rate, r.net, r.vat) for r in data.vat_summary] == [("23%", Decimal("27292.28"), Decimal("6277.22"))]
    assert not data.amounts_gross and data.lines[0].amount == Decimal("20.41")
    for columns in (32, 42, 48):
        blocks = layout(data, columns)
        assert all(len(b.text) <= columns for b in blocks if isinstance(b, TextLine))
        assert any(b.text.startswith("DO ZAPŁATY") and b.text.endswith("33569,50 PLN") for b in blocks
                   if isinstance(b, TextLine))


def test_not_an_invoice_is_a_clear_error():
    with pytest.raises(Fa3ReadError, match="no Fa element"):
        receipt_from_fa3(b"<x/>", kod1_url=None, kod2_url=None)
    with pytest.raises(Fa3ReadError, match="does not parse"):
        receipt_from_fa3(b"<x", kod1_url=None, kod2_url=None)


def test_stored_receipt_blocks_follow_the_printer_config():
    from ksef_edge.printing import PrinterConfig
    from ksef_edge.printing.fa3_receipt import stored_receipt_blocks

    xml = build_fa3(till_invoice(), system_info="ksef-edge test")
    blocks = stored_receipt_blocks(xml, PrinterConfig(paper="58mm"), kod1_url=KOD1_OFFICIAL, kod2_url=None)
    assert max(len(b.text) for b in blocks if isinstance(b, TextLine)) == 32
