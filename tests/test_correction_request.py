"""The correction request as the local API receives it, and its stored form."""
from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal as D

import pytest

from domain_factories import invoice, line
from ksef_edge.domain.errors import InvoiceError
from ksef_edge.domain.kor import CorrectedInvoice, CorrectionEffect, build_correction
from ksef_edge.issuing.kor_request import request_from_body, request_from_json, request_to_json

CREATED = dt.datetime(2025, 11, 3, 8, tzinfo=dt.timezone.utc)


def test_body_to_correction_and_stored_form_folds_into_the_next_one():
    original = CorrectedInvoice(invoice(line("Chleb", "3", "4.99"), line("Mleko", "2", "3.49", "5")))
    body = json.loads('{"reason": "Zwrot towaru", "refund_method": "cash", '
                      '"changes": [{"line_no": 1, "returned_quantity": "2"}, {"line_no": 2, "new_unit_price": 3}]}')
    first = build_correction(original, request_from_body(body), number="KOR/1", issue_date=dt.date(2025, 11, 3),
                             created_at=CREATED)
    stored = request_to_json(first.request)
    assert request_from_json(stored) == first.request  # lossless, effect made explicit
    assert first.request.effect is CorrectionEffect.CORRECTION_DATE
    second = request_from_body({"reason": "Zwrot", "refund_method": "card", "full_return": True})
    c2 = build_correction(original, second, number="KOR/2", issue_date=dt.date(2025, 11, 4), created_at=CREATED,
                          prior=[request_from_json(stored)])
    assert [(r.quantity, r.unit_price, r.before) for r in c2.rows] == [
        (D("1"), D("4.99"), True), (D("0"), D("4.99"), False), (D("2"), D("3"), True), (D("0"), D("3"), False)]


@pytest.mark.parametrize("body, field", [
    ([], "body"),
    ({"reason": "x", "refund_method": "cash", "colour": "red"}, "colour"),
    ({"reason": "x"}, "refund_method"),
    ({"reason": "x", "refund_method": "bitcoin"}, "refund_method"),
    ({"refund_method": "cash", "full_return": True}, "reason"),
    ({"reason": "x", "refund_method": "cash", "full_return": "yes"}, "full_return"),
    ({"reason": "x", "refund_method": "cash", "changes": {}}, "changes"),
    ({"reason": "x", "refund_method": "cash", "changes": [{"returned_quantity": "1"}]}, "changes[0].line_no"),
    ({"reason": "x", "refund_method": "cash", "changes": [{"line_no": 1, "qty": "1"}]}, "changes[0].qty"),
    ({"reason": "x", "refund_method": "cash", "changes": [{"line_no": 1, "returned_quantity": 1.5}]},
     "changes[0].returned_quantity"),
    ({"reason": "x", "refund_method": "cash", "changes": [{"line_no": 1, "new_unit_price": "1,5x"}]},
     "changes[0].new_unit_price"),
    ({"reason": "x", "refund_method": "cash", "full_return": True, "effect": 9}, "effect"),
])
def test_bad_bodies_name_the_field(body, field):
    with pytest.raises(InvoiceError) as err:
        request_from_body(body)
    assert err.value.field == field
