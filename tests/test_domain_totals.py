"""Totals as FA(3) expects: per-rate VAT from the sum of line values, ROUND_HALF_UP to the grosz,
and input errors that name the field to fix."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal as D

import pytest

from domain_factories import BUYER_B2B, SELLER, invoice, line
from ksef_edge.domain.errors import InvoiceError
from ksef_edge.domain.invoice import Address, Line, Party, PriceKind, VatRate
from ksef_edge.domain.totals import compute_totals

NET = PriceKind.NET


def test_gross_priced_till_basket_hand_checked():
    totals = compute_totals(invoice(
        line("Chleb", "2", "4.99", "5"), line("Piwo", "1.5", "3.33", "23"), line("Masaż", "1", "100", "zw"),
        exemption_basis="art. 43 ust. 1 pkt 19 ustawy o VAT"))
    assert [x.value for x in totals.lines] == [D("9.98"), D("5.00"), D("100.00")]  # 4.995 rounds half up
    r23, r5, zw = totals.by_rate[VatRate.R23], totals.by_rate[VatRate.R5], totals.by_rate[VatRate.ZW]
    assert (r23.net, r23.vat, r23.gross) == (D("4.07"), D("0.93"), D("5.00"))  # 5.00*23/123 = 0.9349...
    assert (r5.net, r5.vat, r5.gross) == (D("9.50"), D("0.48"), D("9.98"))  # 9.98*5/105 = 0.4752...
    assert (zw.net, zw.vat) == (D("100.00"), D("0.00"))
    assert list(totals.by_rate) == [VatRate.R23, VatRate.R5, VatRate.ZW]  # FA(3) field order
    assert totals.gross == D("114.98") and totals.net + totals.vat == totals.gross


def test_net_priced_b2b_hand_checked():
    totals = compute_totals(invoice(
        line("Konsultacja", "3", "10.00", "23", NET), line("Bułka", "1", "0.99", "8", NET), buyer=BUYER_B2B))
    assert totals.by_rate[VatRate.R23] .vat == D("6.90") and totals.by_rate[VatRate.R23].gross == D("36.90")
    assert totals.by_rate[VatRate.R8].vat == D("0.08")  # 0.0792
    assert totals.gross == D("37.97")


def test_vat_is_rounded_half_up_not_bankers():
    totals = compute_totals(invoice(line("Gazeta", "1", "0.50", "5", NET)))
    assert totals.by_rate[VatRate.R5].vat == D("0.03")  # 0.025 -> 0.03 (banker's rounding would give 0.02)


def test_vat_is_computed_per_rate_not_per_line():
    # three 1.00 lines at 23%: per line 0.18699 -> 0.19 each = 0.57; per rate 3.00*23/123 = 0.5609 -> 0.56
    totals = compute_totals(invoice(line("A", "1", "1.00"), line("B", "1", "1.00"), line("C", "1", "1.00")))
    assert totals.by_rate[VatRate.R23].vat == D("0.56")
    assert totals.gross == D("3.00")


def test_zero_priced_line_is_allowed():
    assert compute_totals(invoice(line("Torba gratis", "1", "0"), line())).gross == D("4.99")


def _raw_line(**kw):
    base = dict(name="Chleb", quantity=D("1"), unit_price=D("4.99"), vat_rate=VatRate.R23)
    base.update(kw)
    return Line(**base)


BAD_INPUTS = [
    ("negative quantity", lambda: invoice(line(), line(), line(quantity="-1")), "lines[2].quantity", "greater than 0"),
    ("zero quantity", lambda: invoice(line(quantity="0")), "lines[0].quantity", "greater than 0"),
    ("too precise quantity", lambda: invoice(line(quantity="1.0000001")), "lines[0].quantity", "decimal places"),
    ("float quantity", lambda: invoice(_raw_line(quantity=1.5)), "lines[0].quantity", "Decimal"),
    ("text quantity", lambda: invoice(_raw_line(quantity="dwa")), "lines[0].quantity", "not a number"),
    ("negative price", lambda: invoice(line(), line(price="-0.01")), "lines[1].unit_price", "negative"),
    ("unknown rate", lambda: invoice(_raw_line(vat_rate="22")), "lines[0].vat_rate", "unknown VAT rate"),
    ("no lines", lambda: invoice(lines=()), "lines", "at least one line"),
    ("zw without basis", lambda: invoice(line(rate="zw")), "exemption_basis", "legal basis"),
    ("seller NIP checksum", lambda: invoice(seller=Party(SELLER.name, SELLER.address, "5265877636")),
     "seller.nip", "not a valid NIP"),
    ("buyer NIP checksum", lambda: invoice(buyer=Party("Kowalski", None, "1234567890")), "buyer.nip", "not a valid NIP"),
    ("seller without address", lambda: invoice(seller=Party(SELLER.name, None, SELLER.nip)), "seller.address",
     "required"),
    ("mixed price kinds", lambda: invoice(line(), line(kind=NET)), "lines[1].price_kind", "either gross or net"),
    ("reverse charge for a consumer", lambda: invoice(line(rate="oo")), "buyer.nip", "reverse charge"),
    ("empty name", lambda: invoice(line(name="   ")), "lines[0].name", "empty"),
    ("control character", lambda: invoice(line(name="Chleb\x1b[2J")), "lines[0].name", "U+001B"),
    ("name too long", lambda: invoice(line(name="ż" * 513)), "lines[0].name", "at most 512"),
    ("naive created_at", lambda: invoice(created_at=dt.datetime(2025, 10, 31, 9)), "created_at", "timezone"),
    ("clock before FA(3)", lambda: invoice(created_at=dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)),
     "created_at", "device clock"),
    ("foreign currency", lambda: invoice(currency="EUR"), "currency", "PLN"),
    ("empty number", lambda: invoice(number=""), "number", "empty"),
    ("bad country", lambda: invoice(seller=Party(SELLER.name, Address("ul. X 1", None, "Polska"), SELLER.nip)),
     "seller.address.country", "2-letter"),
]


@pytest.mark.parametrize("build, field, message", [b[1:] for b in BAD_INPUTS], ids=[b[0] for b in BAD_INPUTS])
def test_bad_input_raises_invoice_error_naming_the_field(build, field, message):
    with pytest.raises(InvoiceError) as err:
        build()
    assert err.value.field == field
    assert message in err.value.message
    assert str(err.value).startswith(f"{field}: ")


def test_input_is_normalised():
    inv = invoice(_raw_line(name="  Chleb \n żytni ", quantity="2", unit_price="4,99", vat_rate="23%"),
                  seller=Party(SELLER.name, SELLER.address, "PL 526-587-76-35"))
    assert inv.lines[0].name == "Chleb żytni"
    assert inv.lines[0].quantity == D("2") and inv.lines[0].unit_price == D("4.99")
    assert inv.lines[0].vat_rate is VatRate.R23
    assert inv.seller.nip == "5265877635"
    assert inv.payment.paid_date == inv.issue_date  # paid at the till
