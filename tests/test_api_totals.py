"""Invoice JSON carries `totals` (net, VAT, gross as exact decimal strings) read from the stored FA(3) bytes.

Expected values are worked out by hand from the request (per-rate rounding, Polish VAT); the XML's
P_13_x / P_14_x / P_15 are checked to agree. Real in-process daemon, real SQLite file.
"""
from __future__ import annotations

import json
from decimal import Decimal

import aiohttp
import pytest
from lxml import etree

from daemon_fixtures import BUYER_NIP, VALID_BODY

NET_BODY = {
    "buyer": {"nip": BUYER_NIP, "name": "Hurtownia Sp. z o.o."},
    "lines": [
        {"name": "Catering", "quantity": "25", "unit": "os.", "unit_price_net": "32.00", "vat_rate": "8"},
        {"name": "Dowóz", "quantity": "1", "unit": "usł.", "unit_price_net": "60.00", "vat_rate": "23"},
        {"name": "Mąka 25 kg", "quantity": "4", "unit_price_net": "71.46", "vat_rate": "5"},
        {"name": "Kurs", "quantity": "1", "unit_price_net": "350.00", "vat_rate": "zw"},
    ],
    "exemption_basis": "art. 43 ust. 1 pkt 29 lit. c ustawy o VAT",
    "payment": {"method": "transfer"},
}


async def call(d, method, path, body=None, key=None):
    headers = {**d.auth, **({"Idempotency-Key": key} if key else {})}
    async with aiohttp.ClientSession() as http:
        async with http.request(method, d.base_url + path, json=body, headers=headers) as r:
            raw = await r.read()
            return r.status, raw


async def test_totals_are_exact_strings_matching_the_signed_xml(daemon):
    status, raw = await call(daemon, "POST", "/v1/invoices", VALID_BODY, "t-1")
    assert status == 201
    inv = json.loads(raw, parse_float=lambda s: pytest.fail(f"a float in the JSON: {s}"))
    # 2 x 12.30 gross @23 % = 24.60 (net 20.00, VAT 4.60); 9.99 gross @5 % (net 9.51, VAT 0.48)
    assert inv["totals"] == {"net": "29.51", "vat": "5.08", "gross": "34.59", "currency": "PLN"}
    status, raw = await call(daemon, "POST", "/v1/invoices", NET_BODY, "t-2")
    assert status == 201
    net_inv = json.loads(raw)
    # 800.00 @8 % (64.00) + 60.00 @23 % (13.80) + 285.84 @5 % (14.29) + 350.00 zw (no VAT)
    assert net_inv["totals"] == {"net": "1495.84", "vat": "92.09", "gross": "1587.93", "currency": "PLN"}
    _, xml = await call(daemon, "GET", f"/v1/invoices/{net_inv['id']}/xml")
    fa = etree.fromstring(xml).find("{*}Fa")
    assert Decimal(fa.findtext("{*}P_15")) == Decimal(net_inv["totals"]["gross"])
    # the same totals on every read path
    _, one = await call(daemon, "GET", f"/v1/invoices/{inv['id']}")
    _, page = await call(daemon, "GET", "/v1/invoices?limit=10")
    assert json.loads(one)["totals"] == inv["totals"]
    assert [i["totals"]["gross"] for i in json.loads(page)["items"]] == ["34.59", "1587.93"]


async def test_a_correction_carries_its_differences(daemon):
    _, raw = await call(daemon, "POST", "/v1/invoices", VALID_BODY, "t-3")
    inv = json.loads(raw)
    status, raw = await call(daemon, "POST", f"/v1/invoices/{inv['id']}/corrections",
                             {"reason": "Zwrot towaru", "refund_method": "card",
                              "changes": [{"line_no": 1, "returned_quantity": "1"}]}, "t-4")
    assert status == 201, raw
    kor = json.loads(raw)
    # one coffee back: -12.30 gross @23 % (net -10.00, VAT -2.30)
    assert kor["totals"] == {"net": "-10.00", "vat": "-2.30", "gross": "-12.30", "currency": "PLN"}
    _, listed = await call(daemon, "GET", f"/v1/invoices/{inv['id']}/corrections")
    assert json.loads(listed)["items"][0]["totals"] == kor["totals"]
