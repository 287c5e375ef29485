"""Correction invoices (KOR) at the till: full return, partial return, price correction.

Every KOR is checked against the official FA(3) XSD, and its amounts against figures worked out
by hand here (VAT per rate from the gross sum, ROUND_HALF_UP), not against the code's own output.
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal as D

import pytest
from lxml import etree

from domain_factories import BUYER_B2B, invoice, line
from ksef_edge.domain.errors import SchemaError
from ksef_edge.domain.fa3 import FA3_NS, build_fa3_kor, invoice_summary, validate_fa3
from ksef_edge.domain.invoice import Address, Party, PaymentMethod, PriceKind
from ksef_edge.domain.kor import (
    CorrectedInvoice,
    CorrectionEffect,
    CorrectionRequest,
    LineChange,
    build_correction,
)
from ksef_edge.domain.ksef_number import make_ksef_number

NS = {"f": FA3_NS}
KOR_DATE = dt.date(2025, 11, 3)  # Monday after the original (Fri 2025-10-31)
KOR_CREATED = dt.datetime(2025, 11, 3, 8, 30, tzinfo=dt.timezone.utc)
ORIGINAL_KSEF = make_ksef_number("5265877635", dt.date(2025, 10, 31), "0100806C1E7A")


def basket():
    """Chleb 3 x 4.99 (23 %) = 14.97, Mleko 2 x 3.49 (5 %) = 6.98.
    23 %: VAT 14.97*23/123 = 2.7993 -> 2.80, net 12.17;  5 %: VAT 6.98*5/105 = 0.3324 -> 0.33, net 6.65."""
    return invoice(line("Chleb żytni", "3", "4.99", "23"), line("Mleko 2%", "2", "3.49", "5"))


def correct(original, *changes, ksef=None, prior=(), full_return=False, **kw):
    request = CorrectionRequest(
        reason=kw.pop("reason", "Zwrot towaru"), refund_method=kw.pop("refund", PaymentMethod.CASH),
        changes=tuple(changes), full_return=full_return, **kw,
    )
    return build_correction(CorrectedInvoice(original, ksef), request, number="KOR/2025/11/0001",
                            issue_date=KOR_DATE, created_at=KOR_CREATED, prior=prior)


def xml_of(correction) -> etree._Element:
    xml = build_fa3_kor(correction, system_info="ksef-edge test")
    validate_fa3(xml)  # the builder validates too; this is the official XSD speaking, explicitly
    return etree.fromstring(xml)


def text(root, path):
    return root.findtext(path, namespaces=NS)


def rows(root):
    """(NrWierszaFa, P_8B, P_9B or P_9A, P_11A or P_11, StanPrzed) per FaWiersz."""
    out = []
    for w in root.iterfind("f:Fa/f:FaWiersz", NS):
        price = w.findtext("f:P_9B", namespaces=NS) or w.findtext("f:P_9A", namespaces=NS)
        value = w.findtext("f:P_11A", namespaces=NS) or w.findtext("f:P_11", namespaces=NS)
        out.append((w.findtext("f:NrWierszaFa", namespaces=NS), w.findtext("f:P_8B", namespaces=NS), price, value,
                    w.findtext("f:StanPrzed", namespaces=NS)))
    return out


def test_full_return_before_original_has_ksef_number():
    root = xml_of(correct(basket(), full_return=True))
    assert text(root, "f:Fa/f:RodzajFaktury") == "KOR"
    assert text(root, "f:Fa/f:P_1") == "2025-11-03" and text(root, "f:Fa/f:P_2") == "KOR/2025/11/0001"
    assert text(root, "f:Fa/f:PrzyczynaKorekty") == "Zwrot towaru"
    assert text(root, "f:Fa/f:TypKorekty") == "2"  # a decrease: recorded at the correction's date
    ref = root.find("f:Fa/f:DaneFaKorygowanej", NS)
    assert [(etree.QName(e).localname, e.text) for e in ref] == [
        ("DataWystFaKorygowanej", "2025-10-31"), ("NrFaKorygowanej", "FV/2025/10/0001"), ("NrKSeFN", "1"),
    ]
    # every line to zero, before/after pairs
    assert rows(root) == [
        ("1", "3", "4.99", "14.97", "1"), ("2", "0", "4.99", "0.00", None),
        ("3", "2", "3.49", "6.98", "1"), ("4", "0", "3.49", "0.00", None),
    ]
    assert [text(root, f"f:Fa/f:{f}") for f in ("P_13_1", "P_14_1", "P_13_3", "P_14_3", "P_15")] == [
        "-12.17", "-2.80", "-6.65", "-0.33", "-21.95"]
    assert text(root, "f:Fa/f:Platnosc/f:FormaPlatnosci") == "1"  # refunded in cash
    assert text(root, "f:Fa/f:Platnosc/f:DataZaplaty") == "2025-11-03"


def test_partial_return_after_original_has_ksef_number():
    root = xml_of(correct(basket(), LineChange(1, returned_quantity=D("1")), ksef=ORIGINAL_KSEF,
                          refund=PaymentMethod.CARD))
    ref = root.find("f:Fa/f:DaneFaKorygowanej", NS)
    assert [etree.QName(e).localname for e in ref] == [
        "DataWystFaKorygowanej", "NrFaKorygowanej", "NrKSeF", "NrKSeFFaKorygowanej"]
    assert text(ref, "f:NrKSeF") == "1" and text(ref, "f:NrKSeFFaKorygowanej") == ORIGINAL_KSEF
    assert rows(root) == [("1", "3", "4.99", "14.97", "1"), ("2", "2", "4.99", "9.98", None)]
    # 23 % after: 9.98 -> VAT 9.98*23/123 = 1.8662 -> 1.87, net 8.11; minus before (12.17 / 2.80)
    assert [text(root, f"f:Fa/f:{f}") for f in ("P_13_1", "P_14_1", "P_15")] == ["-4.06", "-0.93", "-4.99"]
    assert root.find("f:Fa/f:P_13_3", NS) is None  # the 5 % line did not change
    assert text(root, "f:Fa/f:Platnosc/f:FormaPlatnosci") == "2"


def test_price_correction_down_and_up():
    down = xml_of(correct(basket(), LineChange(1, new_unit_price=D("3.99")), reason="Błędna cena"))
    assert rows(down) == [("1", "3", "4.99", "14.97", "1"), ("2", "3", "3.99", "11.97", None)]
    # after: 11.97 -> VAT 2.2383 -> 2.24, net 9.73
    assert [text(down, f"f:Fa/f:{f}") for f in ("P_13_1", "P_14_1", "P_15")] == ["-2.44", "-0.56", "-3.00"]
    assert text(down, "f:Fa/f:TypKorekty") == "2"
    up = xml_of(correct(basket(), LineChange(2, new_unit_price=D("3.99")), reason="Błędna cena"))
    # 5 %: 7.98 -> VAT 0.38, net 7.60; before 6.65 / 0.33
    assert [text(up, f"f:Fa/f:{f}") for f in ("P_13_3", "P_14_3", "P_15")] == ["0.95", "0.05", "1.00"]
    assert text(up, "f:Fa/f:TypKorekty") == "1"  # an increase fixing a till error: original's date


def test_return_and_new_price_on_one_line_and_explicit_effect():
    root = xml_of(correct(basket(), LineChange(1, returned_quantity=D("1"), new_unit_price=D("4.49")),
                          effect=CorrectionEffect.OTHER_DATE))
    assert rows(root)[1] == ("2", "2", "4.49", "8.98", None)
    assert text(root, "f:Fa/f:TypKorekty") == "3"
    # after 8.98: VAT 1.6793 -> 1.68, net 7.30
    assert [text(root, f"f:Fa/f:{f}") for f in ("P_13_1", "P_14_1", "P_15")] == ["-4.87", "-1.12", "-5.99"]


def test_net_priced_b2b_invoice_correction():
    original = invoice(line("Usługa", "2", "100.00", "23", PriceKind.NET), line("Książka", "1", "50", "5", PriceKind.NET),
                       buyer=BUYER_B2B)
    root = xml_of(correct(original, LineChange(1, returned_quantity=D("1")), ksef=ORIGINAL_KSEF))
    assert text(root, "f:Podmiot2/f:DaneIdentyfikacyjne/f:NIP") == BUYER_B2B.nip
    assert rows(root) == [("1", "2", "100", "200.00", "1"), ("2", "1", "100", "100.00", None)]
    assert [text(root, f"f:Fa/f:{f}") for f in ("P_13_1", "P_14_1", "P_15")] == ["-100.00", "-23.00", "-123.00"]


def test_exempt_line_correction_keeps_the_exemption_basis():
    original = invoice(line("Usługa medyczna", "1", "150", "zw"), line("Chleb", "1", "4.99"),
                       exemption_basis="art. 43 ust. 1 pkt 19 ustawy o VAT")
    root = xml_of(correct(original, LineChange(1, new_unit_price=D("120"))))
    assert text(root, "f:Fa/f:Adnotacje/f:Zwolnienie/f:P_19A") == "art. 43 ust. 1 pkt 19 ustawy o VAT"
    assert [text(root, f"f:Fa/f:{f}") for f in ("P_13_7", "P_15")] == ["-30.00", "-30.00"]


def test_summary_reads_kor_and_its_own_number():
    xml = build_fa3_kor(correct(basket(), full_return=True), system_info="t")
    assert invoice_summary(xml) == ("5265877635", KOR_DATE, "KOR/2025/11/0001", "KOR")


def test_xsd_refuses_both_reference_branches_so_the_choice_is_exclusive():
    """Our reading of the schema: NrKSeF(+number) and NrKSeFN are a choice, never both."""
    xml = build_fa3_kor(correct(basket(), full_return=True), system_info="t")
    both = xml.replace(b"<NrKSeFN>1</NrKSeFN>",
                       f"<NrKSeF>1</NrKSeF><NrKSeFFaKorygowanej>{ORIGINAL_KSEF}</NrKSeFFaKorygowanej>"
                       "<NrKSeFN>1</NrKSeFN>".encode())
    with pytest.raises(SchemaError, match="NrKSeFN"):
        validate_fa3(both)
    neither = xml.replace(b"<NrKSeFN>1</NrKSeFN>", b"")
    with pytest.raises(SchemaError):
        validate_fa3(neither)


def test_consumer_with_name_and_address_is_carried_over():
    buyer = Party("Jan Nowak", Address("ul. Długa 5", "00-002 Warszawa"))
    root = xml_of(correct(invoice(line(), buyer=buyer), full_return=True))
    assert text(root, "f:Podmiot2/f:DaneIdentyfikacyjne/f:BrakID") == "1"
    assert text(root, "f:Podmiot2/f:Adres/f:AdresL1") == "ul. Długa 5"
