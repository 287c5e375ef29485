"""The buyer's A4 PDF: pdftotext (poppler-utils) finds the number, buyer, every line and the totals;
pdftoppm renders it and zxing-cpp decodes both QR codes to the stored KOD I / KOD II links.

Real in-process daemon on 127.0.0.1; real poppler binaries; the PDF bytes come over HTTP.
"""
from __future__ import annotations

import datetime as dt
import subprocess
from pathlib import Path

import aiohttp
import zxingcpp
from PIL import Image

from daemon_fixtures import in_process_daemon
from domain_factories import invoice, line
from ksef_edge.civil_time import warsaw_date as civil_date
from ksef_edge.domain.fa3 import build_fa3
from ksef_edge.domain.invoice import Party
from ksef_edge.printing.invoice_pdf import invoice_pdf
from test_fiscal_receipt import BODY as FP_BODY

BODY = {
    **FP_BODY,
    "buyer": {"name": "Hurtownia Pod Lipą Sp. z o.o.", "nip": "5260250995", "address": "ul. Długa 12, 00-238 Warszawa"},
    "lines": [
        {"name": "Kawa ziarnista Łódzka 1 kg", "quantity": "2", "unit_price_gross": "89.99", "vat_rate": "23"},
        {"name": "Chleb żytni", "quantity": "3", "unit_price_gross": "4.99", "vat_rate": "5"},
        {"name": "Sok jabłkowy", "quantity": "1.5", "unit": "l", "unit_price_gross": "6.40", "vat_rate": "8"},
    ],
}


def pdf_text(pdf: Path) -> str:
    return subprocess.run(["pdftotext", "-layout", str(pdf), "-"], check=True, capture_output=True, text=True).stdout


def qr_texts(pdf: Path, tmp: Path) -> set[str]:
    subprocess.run(["pdftoppm", "-r", "150", "-png", str(pdf), str(tmp / "page")], check=True)
    found = set()
    for png in sorted(tmp.glob("page*.png")):
        found |= {r.text for r in zxingcpp.read_barcodes(Image.open(png)) if r.format == zxingcpp.BarcodeFormat.QRCode}
    return found


async def test_pdf_holds_every_field_and_both_qr_codes_decode_to_the_stored_links(tmp_path):
    async with in_process_daemon(tmp_path / "dev") as d, aiohttp.ClientSession() as http:
        async with http.post(d.base_url + "/v1/invoices", json=BODY, headers={**d.auth, "Idempotency-Key": "pdf"}) as r:
            assert r.status == 201, await r.text()
            inv = await r.json()
        async with http.get(d.base_url + f"/v1/invoices/{inv['id']}", headers=d.auth) as r:
            stored = await r.json()
        async with http.get(d.base_url + f"/v1/invoices/{inv['id']}.pdf", headers=d.auth) as r:
            assert r.status == 200 and r.content_type == "application/pdf"
            (tmp_path / "f.pdf").write_bytes(await r.read())
        async with http.get(d.base_url + f"/v1/invoices/{inv['id']}.pdf?copy=1", headers=d.auth) as r:
            (tmp_path / "copy.pdf").write_bytes(await r.read())
        async with http.get(d.base_url + "/v1/invoices/999.pdf", headers=d.auth) as r:
            assert r.status == 404 and (await r.json())["error"]["code"] == "not_found"
        async with http.get(d.base_url + f"/v1/invoices/{inv['id']}.pdf") as r:
            assert r.status == 401  # behind the API token like every /v1 call

    text = " ".join(pdf_text(tmp_path / "f.pdf").split())
    assert inv["number"] in text
    assert "Hurtownia Pod Lipą Sp. z o.o." in text and "NIP 5260250995" in text and "ul. Długa 12" in text
    for name, qty, value in (("Kawa ziarnista Łódzka 1 kg", "2", "179,98"), ("Chleb żytni", "3", "14,97"),
                             ("Sok jabłkowy", "1,5", "9,60")):
        assert name in text and f" {qty} " in text and value in text
    assert "Do zapłaty: 204,55 PLN" in text  # 179.98 + 14.97 + 9.60
    for rate in ("23%", "8%", "5%"):
        assert rate in text
    assert "Faktura do paragonu nr 0042" in text and "ABC12345678" in text
    assert "OFFLINE" in text and "CERTYFIKAT" in text
    assert qr_texts(tmp_path / "f.pdf", tmp_path) == {stored["kod1_url"], stored["kod2_url"]}
    copy = " ".join(pdf_text(tmp_path / "copy.pdf").split())
    assert f"DUPLIKAT z dnia {civil_date(dt.datetime.now(dt.timezone.utc))}" in copy


def test_kod1_is_labelled_with_the_ksef_number_once_known(tmp_path):
    xml = build_fa3(invoice(line("Kawa", "1", "10.00"), buyer=Party("Firma", nip="5260250995")), system_info="t")
    ksef_number = "5265877635-20251031-0100806C1E7A-4B"
    pdf = tmp_path / "k.pdf"
    pdf.write_bytes(invoice_pdf(xml, kod1_url="https://qr-test.ksef.mf.gov.pl/invoice/x", kod2_url=None,
                                ksef_number=ksef_number))
    text = pdf_text(pdf)
    assert ksef_number in text and "OFFLINE" not in text and "CERTYFIKAT" not in text
