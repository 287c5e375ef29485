"""A receipt for every invoice: text the printer's code page lacks (m², Cyrillic, emoji) gets a readable
stand-in on the paper only, the stored XML keeps it exactly, and the QR codes decode to the stored links;
a text of which nothing readable would remain is refused before a number is used."""
from __future__ import annotations

import asyncio
import io

import aiohttp
import zxingcpp
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from daemon_fixtures import in_process_daemon, stored_invoices
from ksef_edge.printing.printable import printable_text
from ksef_edge.printing.receipt_layout import clean_text

BODY = {
    "buyer": {"name": "Жанна Иванова ☕", "address": "ул. Ленина 5, Kraków"},
    "lines": [
        {"name": "Panel podłogowy dąb", "quantity": "2.5", "unit": "m²", "unit_price_gross": "59.90", "vat_rate": "23"},
        {"name": "Witamina D 25 µg 🌞", "quantity": "1", "unit": "op", "unit_price_gross": "19.99", "vat_rate": "8"},
    ],
    "payment": {"method": "cash"},
}


def test_stand_ins_are_readable():
    assert clean_text("2,5 m² i 1 m³", "cp852") == "2,5 m2 i 1 m3"
    assert clean_text("Жанна Иванова", "cp852") == "Zhanna Ivanova"
    assert clean_text("Chleb 🍞 ☕", "cp852").split() == ["Chleb"]
    assert clean_text("25 µg", "cp852") == "25 ug"
    assert clean_text("Łódź „Kłos”", "cp852") == 'Łódź "Kłos"'  # Polish letters stay, quotes become plain


async def _wait_printed(http, d, inv_id):
    for _ in range(100):
        async with http.get(d.base_url + f"/v1/invoices/{inv_id}", headers=d.auth) as r:
            got = await r.json()
        if got["print_state"] in ("printed", "failed"):
            return got
        await asyncio.sleep(0.05)
    return got


async def test_exotic_text_prints_a_readable_receipt_and_the_xml_stays_exact(tmp_path):
    sink = tmp_path / "printer.bin"
    sink.touch()
    for paper in ("58mm", "80mm"):
        toml = f'[printer]\nconnection = "file"\nfile_path = "{sink}"\npaper = "{paper}"\n'
        async with in_process_daemon(tmp_path / paper, extra_toml=toml) as d, aiohttp.ClientSession() as http:
            async with http.post(d.base_url + "/v1/invoices", json=BODY,
                                 headers={**d.auth, "Idempotency-Key": "exotic-" + paper}) as r:
                assert r.status == 201, await r.text()
                inv = await r.json()
            assert (await _wait_printed(http, d, inv["id"]))["print_state"] == "printed"
            async with http.get(d.base_url + f"/v1/invoices/{inv['id']}/xml", headers=d.auth) as r:
                xml = (await r.read()).decode("utf-8")
            assert "Жанна Иванова ☕" in xml and "<P_8A>m²</P_8A>" in xml and "µg 🌞" in xml  # exact
            async with http.get(d.base_url + f"/v1/invoices/{inv['id']}/receipt.bin", headers=d.auth) as r:
                escpos = (await r.read()).decode("cp852", errors="replace")
            assert "Zhanna Ivanova" in escpos and "m2" in escpos and "25 ug" in escpos
            async with http.get(d.base_url + f"/v1/invoices/{inv['id']}/receipt.png", headers=d.auth) as r:
                assert r.status == 200
                img = Image.open(io.BytesIO(await r.read())).convert("L")
            decoded = sorted(c.text for c in zxingcpp.read_barcodes(img))
            assert decoded == sorted([inv["kod1_url"], inv["kod2_url"]])


async def test_a_text_with_nothing_printable_is_refused_before_a_number_is_used(tmp_path):
    async with in_process_daemon(tmp_path) as d, aiohttp.ClientSession() as http:
        body = {**BODY, "lines": [{**BODY["lines"][0]}, {"name": "☕🍰", "quantity": "1", "unit_price_gross": "9.00",
                                                        "vat_rate": "8"}]}
        async with http.post(d.base_url + "/v1/invoices", json=body, headers={**d.auth, "Idempotency-Key": "e1"}) as r:
            assert r.status == 422
            err = (await r.json())["error"]
        assert err["code"] == "unprintable_text" and err["field"] == "lines[1].name"
        assert stored_invoices(d.files.db) == 0
        async with http.post(d.base_url + "/v1/invoices", json=BODY, headers={**d.auth, "Idempotency-Key": "e2"}) as r:
            assert r.status == 201
            assert (await r.json())["number"].endswith("000001")  # no number was burnt by the refusal


@settings(max_examples=400, deadline=None)
@given(st.text(min_size=1, max_size=60), st.sampled_from(["cp852", "cp1250", "iso8859_2"]))
def test_any_text_gets_a_printable_stand_in(text, codec):
    shown = clean_text(text, codec)
    shown.encode(codec)  # never raises: every character is printable or replaced
    assert printable_text(text, codec).encode(codec) is not None


def test_the_no_printer_code_page_is_the_preview_printers():
    """The sale check on a device without a printer names CP852 without loading python-escpos."""
    from ksef_edge.printing import PrinterConfig
    from ksef_edge.printing.printable import PREVIEW_CODEC

    assert PREVIEW_CODEC == PrinterConfig().python_codec
