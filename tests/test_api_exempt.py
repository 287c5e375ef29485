"""Exempt (zw) sales through the local API: the legal basis travels to FA(3) P_19A, or the request is refused.

Real in-process daemon on 127.0.0.1, real SQLite file; the XML is checked against the official XSD.
"""
from __future__ import annotations

import copy
from decimal import Decimal

import aiohttp
from lxml import etree

from daemon_fixtures import stored_invoices
from escpos_reader import parse
from ksef_edge.domain.fa3 import validate_fa3

FA = "{http://crd.gov.pl/wzor/2025/06/25/13775/}"
BASIS = "art. 43 ust. 1 pkt 29 lit. c ustawy o VAT"
EXEMPT_BODY = {
    "exemption_basis": BASIS,
    "buyer": {"name": "Zofia Wiśniewska-Łęcka"},
    "lines": [
        {"name": "Warsztaty wypieku chleba", "quantity": "1", "unit": "usł.", "unit_price_gross": "350.00", "vat_rate": "zw"},
        {"name": "Książka o chlebie", "quantity": "1", "unit_price_gross": "59.90", "vat_rate": "5"},
    ],
    "payment": {"method": "cash"},
}


async def post(d, body, key):
    async with aiohttp.ClientSession() as http:
        async with http.post(d.base_url + "/v1/invoices", json=body,
                             headers={**d.auth, "Idempotency-Key": key}) as r:
            return r.status, await r.json()


async def test_exempt_sale_is_issued_with_its_legal_basis_in_p19a(daemon):
    status, inv = await post(daemon, EXEMPT_BODY, "zw-1")
    assert status == 201, inv
    async with aiohttp.ClientSession() as http:
        async with http.get(daemon.base_url + f"/v1/invoices/{inv['id']}/xml", headers=daemon.auth) as r:
            xml = await r.read()
        async with http.get(daemon.base_url + f"/v1/invoices/{inv['id']}/receipt.bin", headers=daemon.auth) as r:
            assert r.status == 200
            receipt = parse(await r.read())
    validate_fa3(xml)  # official XSD
    fa = etree.fromstring(xml).find(f"{FA}Fa")
    assert fa.findtext(f"{FA}Adnotacje/{FA}Zwolnienie/{FA}P_19") == "1"
    assert fa.findtext(f"{FA}Adnotacje/{FA}Zwolnienie/{FA}P_19A") == BASIS
    assert Decimal(fa.findtext(f"{FA}P_13_7")) == Decimal("350.00")  # exempt sales total
    assert [e.text for e in fa.iter(f"{FA}P_12")] == ["zw", "5"]
    assert Decimal(fa.findtext(f"{FA}P_15")) == Decimal("409.90")
    assert inv["number"] in receipt.text and "409,90" in receipt.text
    # a retry with the same key is the same invoice
    status, again = await post(daemon, EXEMPT_BODY, "zw-1")
    assert status == 201 and again["number"] == inv["number"]


async def test_zw_line_without_a_legal_basis_is_refused_naming_the_field(daemon):
    body = copy.deepcopy(EXEMPT_BODY)
    del body["exemption_basis"]
    status, err = await post(daemon, body, "zw-2")
    assert status == 400, err
    assert err["error"]["field"] == "exemption_basis"
    assert "lines[0]" in err["error"]["message"] and "art. 43" in err["error"]["message"]
    for blank in ("", "   "):
        status, err = await post(daemon, {**body, "exemption_basis": blank}, "zw-3")
        assert status == 400 and err["error"]["field"] == "exemption_basis", err
    assert stored_invoices(daemon.files.db) == 0  # nothing stored, no number used


async def test_basis_without_exempt_lines_or_too_long_is_refused(daemon):
    body = copy.deepcopy(EXEMPT_BODY)
    body["lines"][0]["vat_rate"] = "23"
    status, err = await post(daemon, body, "zw-4")
    assert status == 422 and err["error"]["field"] == "exemption_basis", err
    assert "zw" in err["error"]["message"]
    status, err = await post(daemon, {**EXEMPT_BODY, "exemption_basis": "x" * 257}, "zw-5")
    assert status == 400 and err["error"] == {"code": "too_long", "message": "at most 256 characters", "field": "exemption_basis"}
    status, err = await post(daemon, {**EXEMPT_BODY, "exemption_basis": 43}, "zw-6")
    assert status == 400 and err["error"]["code"] == "wrong_type"
    assert stored_invoices(daemon.files.db) == 0
