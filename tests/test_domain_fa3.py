"""FA(3) XML: the official samples validate with our schema setup, and every invoice we build
validates against the official XSD, whatever the basket."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal as D

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from domain_factories import BUYER_B2B, SELLER, invoice, line
from ksef_edge.domain.errors import SchemaError
from ksef_edge.domain.fa3 import FA3_NS, build_fa3, invoice_summary, validate_fa3, validate_upo
from ksef_edge.domain.invoice import Address, Party, Payment, PaymentMethod, PriceKind, VatRate

NS = {"f": FA3_NS}
SYSTEM_INFO = "ksef-edge test"
EXPECTED_FIELDS = {  # rate -> (P_13 field, P_14 field, P_12 code), read from schemat_FA(3)_v1-0E.xsd
    "23": ("P_13_1", "P_14_1", "23"), "8": ("P_13_2", "P_14_2", "8"), "5": ("P_13_3", "P_14_3", "5"),
    "0": ("P_13_6_1", None, "0 KR"), "zw": ("P_13_7", None, "zw"), "np": ("P_13_8", None, "np I"),
    "oo": ("P_13_10", None, "oo"),
}


def parse(xml: bytes) -> etree._Element:
    return etree.fromstring(xml)


def amount(root: etree._Element, path: str) -> D:
    return D(root.findtext(path, namespaces=NS))


# --- official samples -------------------------------------------------------------------------


def test_official_sample_invoice_validates(official_dir):
    validate_fa3((official_dir / "invoice.xml").read_bytes())


def test_official_template_validates_after_substitution_and_not_before(official_dir):
    template = (official_dir / "invoice-template-fa-3.xml").read_bytes()
    validate_fa3(template.replace(b"#nip#", b"5265877635").replace(b"#invoice_number#", b"1"))
    with pytest.raises(SchemaError, match="NIP.*pattern"):
        validate_fa3(template)


def test_official_upo_validates_and_a_broken_one_does_not(official_dir):
    upo = (official_dir / "upo.xml").read_bytes()
    validate_upo(upo)
    with pytest.raises(SchemaError, match="UPO"):
        validate_upo(upo.replace(b"Ministerstwo Finans", b"Ministerstwo Zdrowia Finans", 1))


def test_invoice_summary_of_official_sample(official_dir):
    summary = invoice_summary((official_dir / "invoice.xml").read_bytes())
    assert summary == ("5265877635", dt.date(2025, 10, 31), "FA/YUCFO-4342344706/03/2026", "VAT")


# --- transport rules --------------------------------------------------------------------------


def test_validation_refuses_what_ksef_refuses(official_dir):
    xml = (official_dir / "invoice.xml").read_bytes()
    with pytest.raises(SchemaError, match="BOM"):
        validate_fa3(b"\xef\xbb\xbf" + xml)
    with pytest.raises(SchemaError, match="1000000 bytes"):
        validate_fa3(xml.replace(b"</Faktura>", b" " * 1_000_000 + b"</Faktura>"))
    with pytest.raises(SchemaError, match="processing instructions"):
        validate_fa3(xml.replace(b"<Faktura", b"<?xml-stylesheet href='x'?><Faktura", 1))
    with pytest.raises(SchemaError, match="DOCTYPE"):
        validate_fa3(xml.replace(b"<Faktura", b"<!DOCTYPE Faktura><Faktura", 1))
    with pytest.raises(SchemaError, match="not well-formed"):
        validate_fa3(xml[:-20])


def test_built_xml_is_utf8_without_bom_or_processing_instructions():
    xml = build_fa3(invoice(line("Żurek śląski", "1", "12.50", "8")), system_info=SYSTEM_INFO)
    assert xml.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n<Faktura')
    assert xml.count(b"<?") == 1
    assert "Żurek śląski".encode("utf-8") in xml


def test_header_matches_fa3_and_names_the_system():
    root = parse(build_fa3(invoice(), system_info="ksef-edge 0.1.0"))
    code = root.find("f:Naglowek/f:KodFormularza", NS)
    assert (code.text, code.get("kodSystemowy"), code.get("wersjaSchemy")) == ("FA", "FA (3)", "1-0E")
    assert root.findtext("f:Naglowek/f:WariantFormularza", namespaces=NS) == "3"
    assert root.findtext("f:Naglowek/f:DataWytworzeniaFa", namespaces=NS) == "2025-10-31T09:15:00Z"
    assert root.findtext("f:Naglowek/f:SystemInfo", namespaces=NS) == "ksef-edge 0.1.0"
    assert root.findtext("f:Fa/f:RodzajFaktury", namespaces=NS) == "VAT"
    assert root.findtext("f:Fa/f:P_1", namespaces=NS) == "2025-10-31"
    assert root.findtext("f:Fa/f:P_2", namespaces=NS) == "FV/2025/10/0001"


# --- every rate, both price kinds, B2B and B2C ------------------------------------------------


@pytest.mark.parametrize("kind", [PriceKind.GROSS, PriceKind.NET])
@pytest.mark.parametrize("rate", list(EXPECTED_FIELDS))
def test_every_vat_rate_path_validates_and_fills_its_fields(rate, kind):
    inv = invoice(line("Towar", "2", "61.50", rate, kind), buyer=BUYER_B2B,
                  exemption_basis="art. 43 ust. 1 pkt 37 ustawy o VAT" if rate == "zw" else None)
    root = parse(build_fa3(inv, system_info=SYSTEM_INFO))
    p13, p14, p12 = EXPECTED_FIELDS[rate]
    row = root.find("f:Fa/f:FaWiersz", NS)
    assert row.findtext("f:P_12", namespaces=NS) == p12
    value_field, price_field = ("P_11A", "P_9B") if kind is PriceKind.GROSS else ("P_11", "P_9A")
    assert amount(row, f"f:{value_field}") == D("123.00") and amount(row, f"f:{price_field}") == D("61.50")
    net = amount(root, f"f:Fa/f:{p13}")
    vat = amount(root, f"f:Fa/f:{p14}") if p14 else D(0)
    percent = VatRate.parse(rate).percent or D(0)
    if kind is PriceKind.GROSS:
        assert net + vat == D("123.00")
        assert vat == (D("123.00") * percent / (100 + percent)).quantize(D("0.01"))
    else:
        assert net == D("123.00") and vat == (D("123.00") * percent / 100).quantize(D("0.01"))
    assert amount(root, "f:Fa/f:P_15") == net + vat
    adnotacje = root.find("f:Fa/f:Adnotacje", NS)
    assert adnotacje.findtext("f:P_18", namespaces=NS) == ("1" if rate == "oo" else "2")
    if rate == "zw":
        assert adnotacje.findtext("f:Zwolnienie/f:P_19", namespaces=NS) == "1"
        assert adnotacje.findtext("f:Zwolnienie/f:P_19A", namespaces=NS) == "art. 43 ust. 1 pkt 37 ustawy o VAT"
    else:
        assert adnotacje.findtext("f:Zwolnienie/f:P_19N", namespaces=NS) == "1"


def test_b2c_buyer_is_marked_without_tax_id():
    root = parse(build_fa3(invoice(buyer=None), system_info=SYSTEM_INFO))
    ident = root.find("f:Podmiot2/f:DaneIdentyfikacyjne", NS)
    assert [child.tag.split("}")[1] for child in ident] == ["BrakID"] and ident[0].text == "1"
    named = parse(build_fa3(invoice(buyer=Party("Anna Nowak", Address("ul. Lipowa 2", "30-001 Kraków"))),
                            system_info=SYSTEM_INFO))
    assert named.findtext("f:Podmiot2/f:DaneIdentyfikacyjne/f:Nazwa", namespaces=NS) == "Anna Nowak"
    assert named.findtext("f:Podmiot2/f:Adres/f:AdresL2", namespaces=NS) == "30-001 Kraków"


def test_b2b_buyer_has_nip_name_address():
    root = parse(build_fa3(invoice(buyer=BUYER_B2B), system_info=SYSTEM_INFO))
    assert root.findtext("f:Podmiot2/f:DaneIdentyfikacyjne/f:NIP", namespaces=NS) == "6808208874"
    assert root.findtext("f:Podmiot2/f:DaneIdentyfikacyjne/f:Nazwa", namespaces=NS) == "F.H.U. Jan Kowalski"
    assert root.findtext("f:Podmiot1/f:DaneIdentyfikacyjne/f:Nazwa", namespaces=NS) == SELLER.name


def test_payment_paid_at_till_and_transfer_with_due_date():
    root = parse(build_fa3(invoice(payment=Payment(PaymentMethod.CASH)), system_info=SYSTEM_INFO))
    assert root.findtext("f:Fa/f:Platnosc/f:Zaplacono", namespaces=NS) == "1"
    assert root.findtext("f:Fa/f:Platnosc/f:DataZaplaty", namespaces=NS) == "2025-10-31"
    assert root.findtext("f:Fa/f:Platnosc/f:FormaPlatnosci", namespaces=NS) == "1"
    transfer = Payment(PaymentMethod.TRANSFER, paid=False, due_date=dt.date(2025, 11, 14))
    root = parse(build_fa3(invoice(buyer=BUYER_B2B, payment=transfer), system_info=SYSTEM_INFO))
    assert root.find("f:Fa/f:Platnosc/f:Zaplacono", NS) is None
    assert root.findtext("f:Fa/f:Platnosc/f:TerminPlatnosci/f:Termin", namespaces=NS) == "2025-11-14"
    assert root.findtext("f:Fa/f:Platnosc/f:FormaPlatnosci", namespaces=NS) == "6"


def test_long_polish_names_up_to_the_schema_limit_validate():
    name = ("Przedsiębiorstwo Handlowo-Usługowe „Źdźbło” Grzegorz Brzęczyszczykiewicz " * 8)[:512]
    inv = invoice(line(name, "1", "1.00"), seller=Party(name, Address("ul. Łąkowa 5/7", "64-920 Piła"), "5265877635"),
                  place_of_issue="Chrząszczyżewoszyce", extra={"Kasa": "POS-01"})
    root = parse(build_fa3(inv, system_info=SYSTEM_INFO))
    assert root.findtext("f:Fa/f:FaWiersz/f:P_7", namespaces=NS) == name.strip()
    assert root.findtext("f:Fa/f:P_1M", namespaces=NS) == "Chrząszczyżewoszyce"


def test_build_refuses_to_return_invalid_xml(monkeypatch):
    import ksef_edge.domain.fa3 as fa3

    monkeypatch.setattr(fa3, "_amount", lambda value: "not-a-number")
    with pytest.raises(SchemaError, match="P_13_1"):
        build_fa3(invoice(), system_info=SYSTEM_INFO)


# --- property: any valid basket -> valid XML whose totals reconcile to the grosz -------------

RATES = list(EXPECTED_FIELDS)
quantities = st.decimals(min_value=D("0.001"), max_value=D("500"), places=3).filter(lambda q: q > 0)
prices = st.one_of(st.decimals(min_value=D("0"), max_value=D("99999.99"), places=2),
                   st.decimals(min_value=D("0"), max_value=D("99.9999"), places=4))
names = st.text(alphabet=st.sampled_from("abcżółćęśąźń ĄĘŁŃÓŚŹŻ-.,/&<>\"'0123456789"), min_size=1, max_size=60)\
    .filter(lambda s: s.strip())
baskets = st.lists(st.tuples(names, quantities, prices, st.sampled_from(RATES)), min_size=1, max_size=12)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(basket=baskets, kind=st.sampled_from(list(PriceKind)), b2b=st.booleans())
def test_random_baskets_validate_and_reconcile_to_the_grosz(basket, kind, b2b):
    lines = [line(name, str(q), str(p), rate, kind) for name, q, p, rate in basket]
    needs_buyer = b2b or any(rate == "oo" for *_, rate in basket)
    inv = invoice(*lines, buyer=BUYER_B2B if needs_buyer else None, exemption_basis="art. 43 ust. 1 pkt 37")
    xml = build_fa3(inv, system_info=SYSTEM_INFO)  # validates against the XSD or raises
    root = parse(xml)
    rows = root.findall("f:Fa/f:FaWiersz", NS)
    value_field = "f:P_11A" if kind is PriceKind.GROSS else "f:P_11"
    # each line value is quantity x price rounded half-up, recomputed here from the XML itself
    for row, (name, q, p, rate) in zip(rows, basket, strict=True):
        assert amount(row, value_field) == (q * p).quantize(D("0.01"), rounding="ROUND_HALF_UP")
    p13 = sum((amount(root, f"f:Fa/f:{f[0]}") for r, f in EXPECTED_FIELDS.items()
               if root.find(f"f:Fa/f:{f[0]}", NS) is not None), D(0))
    p14 = sum((amount(root, f"f:Fa/f:{f[1]}") for f in EXPECTED_FIELDS.values()
               if f[1] and root.find(f"f:Fa/f:{f[1]}", NS) is not None), D(0))
    p15 = amount(root, "f:Fa/f:P_15")
    assert p13 + p14 == p15
    values = sum((amount(row, value_field) for row in rows), D(0))
    assert (p15 if kind is PriceKind.GROSS else p13) == values
    # per rate, the tax is within half a grosz of the exact tax on the rate's sum
    for rate, (f13, f14, code) in EXPECTED_FIELDS.items():
        rate_rows = [r for r in rows if r.findtext("f:P_12", namespaces=NS) == code]
        if not rate_rows:
            assert root.find(f"f:Fa/f:{f13}", NS) is None
            continue
        rate_sum = sum((amount(r, value_field) for r in rate_rows), D(0))
        vat = amount(root, f"f:Fa/f:{f14}") if f14 else D(0)
        pct = VatRate.parse(rate).percent or D(0)
        exact = rate_sum * pct / (100 + pct) if kind is PriceKind.GROSS else rate_sum * pct / 100
        assert abs(vat - exact) <= D("0.005")
    assert invoice_summary(xml).number == inv.number
