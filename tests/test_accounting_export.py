"""The accountant's register (ksiegowosc.csv): parsed as a Polish-locale spreadsheet would (BOM -> UTF-8,
semicolons, decimal comma); per-rate columns equal the P_13_x/P_14_x of each exported XML, and the
column totals equal the sum of the day reports of the same days.

Real in-process daemon on 127.0.0.1 with a real SQLite file; the export runs against that file.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import json
from decimal import Decimal

import aiohttp
import pytest
from lxml import etree

from daemon_fixtures import in_process_daemon
from ksef_edge.archive import export_archive
from ksef_edge.archive.errors import ExportError
from ksef_edge.civil_time import warsaw_date as civil_date
from test_day_report import BODIES, NS, XSD_RATES

RATE_COLUMNS = {"23": ("Netto 23%", "VAT 23%"), "8": ("Netto 8%", "VAT 8%"), "5": ("Netto 5%", "VAT 5%"),
                "0": ("Netto 0%", None), "zw": ("Netto zw", None), "oo": ("Netto oo", None), "np": ("Netto np", None)}


def spreadsheet_number(cell: str) -> Decimal:
    """How a Polish-locale spreadsheet reads a cell: decimal comma; a dot would make it text."""
    assert "." not in cell, cell
    return Decimal(cell.replace(",", "."))


def read_like_a_spreadsheet(raw: bytes) -> list[dict[str, str]]:
    assert raw.startswith(b"\xef\xbb\xbf")  # the BOM Excel/LibreOffice use to pick UTF-8
    text = raw.decode("utf-8-sig")
    assert "\r\n" in text
    return list(csv.DictReader(io.StringIO(text, newline=""), delimiter=";"))


async def test_register_has_per_rate_columns_and_adds_up_to_the_day_reports(tmp_path):
    now = dt.datetime.now(dt.timezone.utc)
    clock = [now - dt.timedelta(days=1)]
    async with in_process_daemon(tmp_path / "dev", now=lambda: clock[0]) as d, aiohttp.ClientSession() as http:
        extra = {"buyer": {"name": "Hurtownia „Łoś”; Oddział Nr 2", "nip": "5260250995"},
                 "lines": [{"name": "Usługa oo", "quantity": "1", "unit_price_net": "1000.00", "vat_rate": "oo"}],
                 "payment": {"method": "transfer"}}
        issued = []
        for i, body in enumerate([*BODIES, extra]):
            if i == 2:
                clock[0] = now  # two days of sales
            async with http.post(d.base_url + "/v1/invoices", json=body,
                                 headers={**d.auth, "Idempotency-Key": f"acc-{i}"}) as r:
                assert r.status == 201, await r.text()
                issued.append(await r.json())
        first = issued[0]
        async with http.post(d.base_url + f"/v1/invoices/{first['id']}/corrections",
                             json={"reason": "Zwrot", "refund_method": "cash",
                                   "changes": [{"line_no": 2, "returned_quantity": "1"}]},
                             headers={**d.auth, "Idempotency-Key": "acc-kor"}) as r:
            assert r.status == 201, await r.text()
        days = [civil_date(now - dt.timedelta(days=1)), civil_date(now)]
        reports = []
        for day in days:
            async with http.get(d.base_url + f"/v1/reports/day?date={day}", headers=d.auth) as r:
                reports.append(await r.json())
        out = tmp_path / "export"
        export_archive(d.files.db, out, date_from=days[0], date_to=days[1], record=False)

    rows = read_like_a_spreadsheet((out / "ksiegowosc.csv").read_bytes())
    assert len(rows) == 5  # 4 invoices over two days + 1 correction
    assert {"Numer KSeF", "Forma płatności", "Brutto", *[c for pair in RATE_COLUMNS.values() for c in pair if c]} \
        <= set(rows[0])
    for row in rows:  # every row against its own exported XML, read here with lxml
        fa = etree.fromstring((out / row["Plik XML"]).read_bytes()).find("f:Fa", NS)
        for net_field, (rate, vat_field) in XSD_RATES.items():
            net_col, vat_col = RATE_COLUMNS[rate]
            assert spreadsheet_number(row[net_col]) == Decimal(fa.findtext(f"f:{net_field}", "0", NS)), (row, rate)
            if vat_col:
                assert spreadsheet_number(row[vat_col]) == Decimal(fa.findtext(f"f:{vat_field}", "0", NS))
        assert spreadsheet_number(row["Brutto"]) == Decimal(fa.findtext("f:P_15", namespaces=NS))
    oo_row = next(r for r in rows if r["Netto oo"] != "0,00")
    assert oo_row["Nabywca"] == "Hurtownia „Łoś”; Oddział Nr 2"  # a semicolon in a name stays in its cell
    assert (oo_row["Forma płatności"], oo_row["NIP nabywcy"]) == ("przelew", "5260250995")
    assert sum(1 for r in rows if r["Rodzaj"] == "KOR") == 1

    # column totals == the day reports added up
    for rate, (net_col, vat_col) in RATE_COLUMNS.items():
        want_net = sum((Decimal(rep["by_rate"].get(rate, {"net": "0"})["net"]) for rep in reports), Decimal(0))
        assert sum(spreadsheet_number(r[net_col]) for r in rows) == want_net, rate
        if vat_col:
            want_vat = sum((Decimal(rep["by_rate"].get(rate, {"vat": "0"})["vat"]) for rep in reports), Decimal(0))
            assert sum(spreadsheet_number(r[vat_col]) for r in rows) == want_vat, rate
    assert sum(spreadsheet_number(r["Brutto"]) for r in rows) == sum(Decimal(rep["totals"]["gross"]) for rep in reports)
    doc = json.loads((out / "ksiegowosc.json").read_text("utf-8"))
    assert doc["csv"] == {"file": "ksiegowosc.csv", "encoding": "UTF-8 z BOM", "separator": ";", "decimal": ","}
    assert doc["totals"]["gross"] == f"{sum(Decimal(rep['totals']['gross']) for rep in reports):.2f}"
    assert (out / "index.csv").exists() and (out / "invoices").is_dir()  # the archive itself is unchanged


async def test_windows_1250_register_or_a_clear_refusal(tmp_path):
    async with in_process_daemon(tmp_path / "dev") as d, aiohttp.ClientSession() as http:
        for i, name in enumerate(("Żabka Łódź", "ООО Ромашка")):
            body = {"buyer": {"name": name}, "payment": {"method": "cash"},
                    "lines": [{"name": "Chleb", "quantity": "1", "unit_price_gross": "5.00", "vat_rate": "5"}]}
            async with http.post(d.base_url + "/v1/invoices", json=body, headers={**d.auth, "Idempotency-Key": f"w{i}"}) as r:
                assert r.status == 201
        today = civil_date(dt.datetime.now(dt.timezone.utc))
        with pytest.raises(ExportError) as err:
            export_archive(d.files.db, tmp_path / "cp", date_from=today, date_to=today, record=False,
                           csv_encoding="windows-1250")
        assert "UTF-8" in str(err.value)
        export_archive(d.files.db, tmp_path / "utf", date_from=today, date_to=today, record=False)
        names = [r["Nabywca"] for r in read_like_a_spreadsheet((tmp_path / "utf" / "ksiegowosc.csv").read_bytes())]
        assert names == ["Żabka Łódź", "ООО Ромашка"]
