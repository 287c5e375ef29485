"""Correction input: what a cashier can get wrong is refused with the field named, and successive
corrections of one invoice always add up, to the grosz, to the invoice as it finally stands."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal as D

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain_factories import invoice, line
from ksef_edge.domain.errors import InvoiceError
from ksef_edge.domain.fa3 import build_fa3_kor
from ksef_edge.domain.invoice import Line, PaymentMethod
from ksef_edge.domain.kor import (
    CorrectedInvoice,
    CorrectionRequest,
    LineChange,
    build_correction,
    current_state,
)
from ksef_edge.domain.ksef_number import make_ksef_number
from ksef_edge.domain.totals import RATE_ORDER, compute_totals

KOR_DATE = dt.date(2025, 11, 3)
KOR_CREATED = dt.datetime(2025, 11, 3, 8, 30, tzinfo=dt.timezone.utc)


def basket():
    return invoice(line("Chleb żytni", "3", "4.99", "23"), line("Mleko 2%", "2", "3.49", "5"))


def request(*changes, full_return=False, **kw):
    return CorrectionRequest(reason=kw.pop("reason", "Zwrot towaru"), refund_method=kw.pop("refund", PaymentMethod.CASH),
                             changes=tuple(changes), full_return=full_return, **kw)


def build(original, req, *, prior=(), ksef=None, **kw):
    fields = dict(number="KOR/2025/11/0001", issue_date=KOR_DATE, created_at=KOR_CREATED)
    fields.update(kw)
    return build_correction(CorrectedInvoice(original, ksef), req, prior=prior, **fields)


def field_of(exc_info) -> str:
    return exc_info.value.field


# --- bad input ----------------------------------------------------------------------------------


def test_returning_more_than_sold_names_the_quantity_and_what_remains():
    with pytest.raises(InvoiceError) as err:
        build(basket(), request(LineChange(1, returned_quantity=D("4"))))
    assert field_of(err) == "changes[0].returned_quantity"
    assert "only 3 remain" in err.value.message and "Chleb" in err.value.message


def test_returning_more_than_remains_after_an_earlier_correction():
    first = request(LineChange(1, returned_quantity=D("2")))
    with pytest.raises(InvoiceError) as err:
        build(basket(), request(LineChange(2, returned_quantity=D("1")), LineChange(1, returned_quantity=D("2"))),
              prior=[first])
    assert field_of(err) == "changes[1].returned_quantity"
    assert "only 1 remain" in err.value.message and "2 already returned" in err.value.message


def test_correcting_a_fully_returned_line_again_is_refused():
    done = request(full_return=True)
    with pytest.raises(InvoiceError) as err:
        build(basket(), request(LineChange(2, new_unit_price=D("1.00"))), prior=[done])
    assert field_of(err) == "changes[0].line_no" and "already been fully returned" in err.value.message
    with pytest.raises(InvoiceError) as err:
        build(basket(), request(full_return=True), prior=[done])
    assert field_of(err) == "full_return" and "nothing is left" in err.value.message


@pytest.mark.parametrize("no", [0, 3, -1])
def test_unknown_original_line(no):
    with pytest.raises(InvoiceError) as err:
        build(basket(), request(LineChange(no, returned_quantity=D("1"))))
    assert field_of(err) == "changes[0].line_no" and "lines 1..2" in err.value.message


@pytest.mark.parametrize("change, field, words", [
    (LineChange("1", returned_quantity=D("1")), "changes[0].line_no", "whole line number"),
    (LineChange(1), "changes[0]", "returned_quantity, new_unit_price"),
    (LineChange(1, returned_quantity=D("0")), "changes[0].returned_quantity", "greater than 0"),
    (LineChange(1, returned_quantity=D("-1")), "changes[0].returned_quantity", "greater than 0"),
    (LineChange(1, returned_quantity=1.5), "changes[0].returned_quantity", "not float"),
    (LineChange(1, returned_quantity=D("0.0000001")), "changes[0].returned_quantity", "decimal places"),
    (LineChange(1, new_unit_price=D("-1")), "changes[0].new_unit_price", "negative"),
    (LineChange(1, new_unit_price=D("4.99")), "changes[0].new_unit_price", "already costs 4.99"),
    (LineChange(1, new_unit_price="abc"), "changes[0].new_unit_price", "not a number"),
])
def test_bad_line_changes(change, field, words):
    with pytest.raises(InvoiceError) as err:
        build(basket(), request(change))
    assert field_of(err) == field and words in err.value.message


def test_same_line_twice_in_one_correction():
    with pytest.raises(InvoiceError) as err:
        build(basket(), request(LineChange(1, returned_quantity=D("1")), LineChange(1, returned_quantity=D("1"))))
    assert field_of(err) == "changes[1].line_no" and "appears twice" in err.value.message


def test_request_level_errors():
    with pytest.raises(InvoiceError) as err:
        build(basket(), request())
    assert field_of(err) == "changes"
    with pytest.raises(InvoiceError) as err:
        build(basket(), request(LineChange(1, returned_quantity=D("1")), full_return=True))
    assert field_of(err) == "full_return"
    with pytest.raises(InvoiceError) as err:
        build(basket(), request(full_return=True, reason="  "))
    assert field_of(err) == "reason"
    with pytest.raises(InvoiceError) as err:
        build(basket(), request(full_return=True, refund="cheque"))
    assert field_of(err) == "refund_method"
    with pytest.raises(InvoiceError) as err:
        build(basket(), request(full_return=True, effect="4"))
    assert field_of(err) == "effect"


def test_document_level_errors():
    with pytest.raises(InvoiceError) as err:
        build(basket(), request(full_return=True), issue_date=dt.date(2025, 10, 30))
    assert field_of(err) == "issue_date" and "before 2025-10-31" in err.value.message
    with pytest.raises(InvoiceError) as err:
        build(basket(), request(full_return=True), number="FV/2025/10/0001")
    assert field_of(err) == "number"
    with pytest.raises(InvoiceError) as err:
        build(basket(), request(full_return=True), created_at=dt.datetime(2025, 11, 3, 8, 30))
    assert field_of(err) == "created_at"


def test_bad_or_foreign_ksef_number_of_the_original():
    with pytest.raises(InvoiceError) as err:
        build(basket(), request(full_return=True), ksef="5265877635-20251031-0100806C1E7A-00")
    assert field_of(err) == "original.ksef_number" and "CRC-8" in err.value.message
    foreign = make_ksef_number("6808208874", dt.date(2025, 10, 31), "0100806C1E7A")
    with pytest.raises(InvoiceError) as err:
        build(basket(), request(full_return=True), ksef=foreign)
    assert field_of(err) == "original.ksef_number" and "6808208874" in err.value.message


def test_bad_stored_prior_correction_names_its_position():
    with pytest.raises(InvoiceError) as err:
        build(basket(), request(full_return=True), prior=[request(LineChange(9, returned_quantity=D("1")))])
    assert field_of(err) == "prior[0].changes[0].line_no"


# --- reconciliation -------------------------------------------------------------------------------


def cumulative(original, corrections):
    """Original per-rate totals plus every correction's differences, as KSeF would sum them."""
    sums = {rate: [t.net, t.vat, t.gross] for rate, t in compute_totals(original).by_rate.items()}
    for c in corrections:
        for rate, t in c.totals.by_rate.items():
            s = sums[rate]
            s[0], s[1], s[2] = s[0] + t.net, s[1] + t.vat, s[2] + t.gross
        assert c.totals.net + c.totals.vat == c.totals.gross  # P_15 = sum(P_13) + sum(P_14) in each KOR
    return sums


def as_invoice(original, state):
    """The invoice as it finally stands (lines returned to zero dropped), totalled by totals.py."""
    kept = [Line(ln.name, s.quantity, s.unit_price, ln.vat_rate, ln.price_kind, ln.unit)
            for ln, s in zip(original.lines, state) if s.quantity > 0]
    return compute_totals(invoice(*kept)).by_rate if kept else {}


def test_three_corrections_then_full_return_reconcile_to_zero():
    original = invoice(line("A", "7", "0.10", "23"), line("B", "3", "1.01", "23"), line("C", "5", "0.33", "8"))
    steps = [
        request(LineChange(1, returned_quantity=D("2"))),
        request(LineChange(2, new_unit_price=D("0.99")), LineChange(3, returned_quantity=D("1"))),
        request(LineChange(1, returned_quantity=D("1"), new_unit_price=D("0.09"))),
        request(full_return=True),
    ]
    done = []
    for k, req in enumerate(steps):
        c = build(original, req, prior=steps[:k])
        build_fa3_kor(c, system_info="t")  # each validates against the XSD
        done.append(c)
        sums = cumulative(original, done)
        expected = as_invoice(original, current_state(original, steps[: k + 1]))
        for rate in sums:
            t = expected.get(rate)
            assert sums[rate] == ([t.net, t.vat, t.gross] if t else [D("0.00")] * 3), (k, rate)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    quantities=st.lists(st.integers(1, 9), min_size=1, max_size=4),
    prices=st.lists(st.integers(1, 99_999), min_size=4, max_size=4),
    rates=st.lists(st.sampled_from(["23", "8", "5", "0"]), min_size=4, max_size=4),
    plan=st.lists(st.tuples(st.integers(0, 3), st.integers(1, 9), st.integers(0, 99_999)), min_size=1, max_size=4),
)
def test_any_sequence_of_corrections_reconciles_to_the_grosz(quantities, prices, rates, plan):
    original = invoice(*(line(f"L{i}", str(q), str(D(p) / 100), r)
                         for i, (q, p, r) in enumerate(zip(quantities, prices, rates))))
    applied: list[CorrectionRequest] = []
    corrections = []
    for idx, qty, price in plan:
        state = current_state(original, applied)
        i = idx % len(quantities)
        if state[i].quantity == 0:
            continue
        returned = min(D(qty), state[i].quantity)
        new_price = D(price) / 100
        req = request(LineChange(i + 1, returned_quantity=returned,
                                 new_unit_price=None if new_price == state[i].unit_price else new_price))
        corrections.append(build(original, req, prior=applied))
        applied.append(req)
    sums = cumulative(original, corrections)
    expected = as_invoice(original, current_state(original, applied))
    for rate in RATE_ORDER:
        if rate in sums:
            t = expected.get(rate)
            assert sums[rate] == ([t.net, t.vat, t.gross] if t else [D("0.00")] * 3)
