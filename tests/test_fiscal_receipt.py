"""Invoice to a fiscal receipt (faktura do paragonu): FP = 1 and the receipt named in FA(3), checked
against the official XSD, on the printed receipt, through a correction, and accepted by ksef-sim.

Real in-process daemon on 127.0.0.1 with a real SQLite file; ksef-sim as a real subprocess.
"""
from __future__ import annotations

import copy
import datetime as dt

import aiohttp
import pytest
from lxml import etree

from daemon_fixtures import stored_invoices
from domain_factories import ISSUE_DATE, invoice, line
from escpos_reader import parse
from ksef_edge.civil_time import warsaw_date as civil_date
from ksef_edge.domain.errors import InvoiceError
from ksef_edge.domain.fa3 import build_fa3, validate_fa3
from ksef_edge.domain.fiscal_receipt import FiscalReceipt
from ksef_edge.domain.invoice import Party
from sim_client import KsefTestClient
from sim_fixtures import SIM_NIP, SIM_TOKEN

FA = "{http://crd.gov.pl/wzor/2025/06/25/13775/}"
TODAY = civil_date(dt.datetime.now(dt.timezone.utc))
BODY = {
    "buyer": {"name": "Hurtownia Pod Lipą Sp. z o.o.", "nip": "5260250995"},
    "lines": [{"name": "Kawa ziarnista 1 kg", "quantity": "2", "unit_price_gross": "89.99", "vat_rate": "23"}],
    "payment": {"method": "card"},
    "fiscal_receipt": {"number": "0042", "cash_register": "ABC12345678", "date": TODAY.isoformat(),
                       "buyer_nip_on_receipt": True},
}


async def post(d, body, key):
    async with aiohttp.ClientSession() as http:
        async with http.post(d.base_url + "/v1/invoices", json=body,
                             headers={**d.auth, "Idempotency-Key": key}) as r:
            return r.status, await r.json()


def descriptions(fa: etree._Element) -> dict[str, str]:
    return {e.findtext(f"{FA}Klucz"): e.findtext(f"{FA}Wartosc") for e in fa.findall(f"{FA}DodatkowyOpis")}


async def test_invoice_to_a_receipt_carries_fp_and_the_receipt_and_prints_it(daemon):
    status, inv = await post(daemon, BODY, "fp-1")
    assert status == 201, inv
    async with aiohttp.ClientSession() as http:
        async with http.get(daemon.base_url + f"/v1/invoices/{inv['id']}/xml", headers=daemon.auth) as r:
            xml = await r.read()
        async with http.get(daemon.base_url + f"/v1/invoices/{inv['id']}/receipt.bin", headers=daemon.auth) as r:
            assert r.status == 200
            receipt = parse(await r.read())
    validate_fa3(xml)  # official FA(3) XSD
    fa = etree.fromstring(xml).find(f"{FA}Fa")
    assert fa.findtext(f"{FA}FP") == "1"
    assert descriptions(fa) == {
        "Numer paragonu fiskalnego": "0042",
        "Numer unikatowy kasy rejestrującej": "ABC12345678",
        "Data paragonu fiskalnego": TODAY.isoformat(),
        "NIP nabywcy na paragonie": "tak",
    }
    text = " ".join(receipt.text.split())
    assert "paragonu nr 0042" in text and "ABC12345678" in text and TODAY.isoformat() in text


async def test_an_invoice_without_a_receipt_has_no_fp(daemon):
    body = {k: v for k, v in BODY.items() if k != "fiscal_receipt"}
    status, inv = await post(daemon, body, "fp-none")
    assert status == 201, inv
    async with aiohttp.ClientSession() as http:
        async with http.get(daemon.base_url + f"/v1/invoices/{inv['id']}/xml", headers=daemon.auth) as r:
            fa = etree.fromstring(await r.read()).find(f"{FA}Fa")
    assert fa.find(f"{FA}FP") is None and not descriptions(fa)


@pytest.mark.parametrize(("change", "status", "code", "field"), [
    ({"buyer_nip_on_receipt": False}, 422, "nip_not_on_receipt", "fiscal_receipt.buyer_nip_on_receipt"),
    ({"cash_register": "12345"}, 422, "invalid_fiscal_receipt", "fiscal_receipt.cash_register"),
    ({"date": "2026-02-30"}, 422, "invalid_date", "fiscal_receipt.date"),
    ({"date": (TODAY + dt.timedelta(days=1)).isoformat()}, 422, "invalid_invoice", "fiscal_receipt.date"),
    ({"date": (TODAY - dt.timedelta(days=140)).isoformat()}, 422, "invalid_invoice", "fiscal_receipt.date"),
    ({"number": None}, 400, "missing_field", "fiscal_receipt.number"),
    ({"till": "1"}, 400, "unknown_field", "fiscal_receipt.till"),
])
async def test_a_receipt_the_law_does_not_allow_is_refused_and_nothing_is_stored(daemon, change, status, code, field):
    body = copy.deepcopy(BODY)
    body["fiscal_receipt"].update(change)
    got, err = await post(daemon, body, f"fp-bad-{code}-{field}")
    assert (got, err["error"]["code"], err["error"]["field"]) == (status, code, field), err
    assert err["error"]["message"]
    assert stored_invoices(daemon.files.db) == 0


async def test_a_consumer_invoice_to_a_receipt_without_nip_is_allowed(daemon):
    body = copy.deepcopy(BODY)
    body["buyer"] = {"name": "Jan Kowalski"}
    body["fiscal_receipt"]["buyer_nip_on_receipt"] = False
    status, inv = await post(daemon, body, "fp-consumer")
    assert status == 201, inv


async def test_an_invoice_to_a_receipt_can_be_corrected(daemon):
    status, inv = await post(daemon, BODY, "fp-kor")
    assert status == 201, inv
    async with aiohttp.ClientSession() as http:
        async with http.post(daemon.base_url + f"/v1/invoices/{inv['id']}/corrections",
                             json={"reason": "Zwrot towaru", "refund_method": "card",
                                   "changes": [{"line_no": 1, "returned_quantity": "1"}]},
                             headers={**daemon.auth, "Idempotency-Key": "fp-kor-1"}) as r:
            assert r.status == 201, await r.text()


def test_domain_refuses_nip_invoice_to_a_receipt_without_nip():
    receipt = FiscalReceipt("7", "XYZ00000001", ISSUE_DATE, buyer_nip_on_receipt=False)
    with pytest.raises(InvoiceError) as err:
        invoice(line(), buyer=Party("Firma", nip="5260250995"), fiscal_receipt=receipt)
    assert err.value.field == "fiscal_receipt.buyer_nip_on_receipt"


async def test_the_simulator_accepts_an_invoice_to_a_receipt(ksef_client: KsefTestClient, ksef_sim):
    receipt = FiscalReceipt("0042", "ABC12345678", ISSUE_DATE, buyer_nip_on_receipt=True)
    doc = invoice(line("Kawa", "2", "89.99"), buyer=Party("Hurtownia", nip="5260250995"),
                  number="FV/FP-SIM/0001", fiscal_receipt=receipt)
    xml = build_fa3(doc, system_info="ksef-edge test")
    await ksef_client.authenticate(SIM_NIP, SIM_TOKEN)
    session, crypto = await ksef_client.open_online()
    ref = await ksef_client.send_invoice(session, crypto, xml, offline_mode=True)
    status = (await ksef_client.wait_invoice(session, ref))["status"]
    assert status["code"] == 200, status
    assert [i["invoiceNumber"] for i in ksef_sim.invoices()] == ["FV/FP-SIM/0001"]
