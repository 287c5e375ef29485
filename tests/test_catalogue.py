"""The shop's product list (products.csv next to device.toml): parsed with errors naming line and column,
served at /v1/catalogue behind the token, read again after an edit without a restart."""
from __future__ import annotations

import os
from pathlib import Path

import aiohttp

from daemon_fixtures import in_process_daemon
from ksef_edge.catalogue import parse_catalogue

REPO = Path(__file__).resolve().parents[1]


def test_the_sample_shipped_for_the_demo_is_valid_and_outside_the_package():
    sample = REPO / "firmware-config" / "products.example.csv"
    products, errors = parse_catalogue(sample.read_text(encoding="utf-8"))
    assert errors == [] and len(products) >= 8
    assert {p.vat for p in products} >= {"23", "8", "5", "zw"}
    assert all(p.exemption_basis for p in products if p.vat == "zw")
    assert not list((REPO / "daemon").rglob("products*.json")) and not list((REPO / "daemon").rglob("products*.csv"))


def test_errors_name_the_line_and_the_column():
    text = ("name;price;vat;unit;exemption_basis;ean\n"
            "Chleb;12,90;5;szt;;\n"
            "Kawa;12.x;8;szt;;\n"          # line 3: price
            "Porada;100;zw;h;;\n"          # line 4: zw without a basis
            "Panel;59,90;22;m²;;\n"        # line 5: unknown rate
            ";1;23;;;\n"                   # line 6: no name
            "Woda;3,99;23;szt;;12345\n"    # line 7: EAN length
            "Lekcja;120;zw;h;art. 43 ust. 1 pkt 28 ustawy o VAT;\n"
            "Usługa zagraniczna;500;np;usł;;\n"
            "Stal;1000;oo;t;;\n")
    products, errors = parse_catalogue(text)
    assert [(e.line, e.field) for e in errors] == [(3, "price"), (4, "exemption_basis"), (5, "vat"), (6, "name"), (7, "ean")]
    assert "12,90" in errors[0].message or "kwot" in errors[0].message
    assert [(p.name, p.price, p.vat, p.unit) for p in products] == [
        ("Chleb", "12.90", "5", "szt"), ("Lekcja", "120", "zw", "h"), ("Usługa zagraniczna", "500", "np", "usł"),
        ("Stal", "1000", "oo", "t")]


def test_comma_separated_with_a_bom_and_a_bad_header():
    products, errors = parse_catalogue("\ufeffname,price,vat\nKawa,9.00,8\n")
    assert errors == [] and products[0].name == "Kawa" and products[0].unit == "szt"
    products, errors = parse_catalogue("nazwa;cena;vat\nKawa;9;8\n")
    assert products == [] and errors[0].line == 1 and "nagłówek" in errors[0].message


async def test_catalogue_is_served_and_reloaded_without_a_restart(tmp_path):
    async with in_process_daemon(tmp_path) as d, aiohttp.ClientSession() as http:
        async def get():
            async with http.get(d.base_url + "/v1/catalogue", headers=d.auth) as r:
                assert r.status == 200
                return await r.json()
        async with http.get(d.base_url + "/v1/catalogue") as r:
            assert r.status == 401
        first = await get()
        assert first["products"] == [] and "products.csv" in first["errors"][0]["message"]
        path = d.files.dir / "products.csv"
        path.write_text("name;price;vat;unit\nKawa;9,00;8;szt\n", encoding="utf-8")
        assert [p["name"] for p in (await get())["products"]] == ["Kawa"]
        path.write_text("name;price;vat;unit\nKawa;9,00;8;szt\nHerbata;7,00;8;szt\nZłe;x;8;szt\n", encoding="utf-8")
        os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
        got = await get()
        assert [p["name"] for p in got["products"]] == ["Kawa", "Herbata"]
        assert got["errors"] == [{"line": 4, "field": "price", "message": got["errors"][0]["message"]}]
