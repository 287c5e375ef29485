"""The day report (raport dobowy): its totals equal the sums over that day's stored FA(3) XML, read here
with lxml straight from the SQLite file (not with the report's code); it prints on 58 and 80 mm.

Real in-process daemon on 127.0.0.1, real SQLite file, real print queue into a file printer.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import sqlite3
from collections import defaultdict
from decimal import Decimal

import aiohttp
from lxml import etree

from daemon_fixtures import in_process_daemon
from escpos_reader import parse
from ksef_edge.civil_time import warsaw_date as civil_date

NS = {"f": "http://crd.gov.pl/wzor/2025/06/25/13775/"}
# FA(3) schema: P_13_1/P_14_1 = 23 %, P_13_2/P_14_2 = 8 %, P_13_3/P_14_3 = 5 %, P_13_6_1 = 0 % (kraj),
# P_13_7 = zwolnione, P_13_8 = np, P_13_10 = odwrotne obciążenie. FormaPlatnosci: 1 gotówka, 2 karta, 6 przelew.
XSD_RATES = {"P_13_1": ("23", "P_14_1"), "P_13_2": ("8", "P_14_2"), "P_13_3": ("5", "P_14_3"),
             "P_13_6_1": ("0", None), "P_13_7": ("zw", None), "P_13_8": ("np", None), "P_13_10": ("oo", None)}
XSD_PAYMENT = {"1": "cash", "2": "card", "6": "transfer"}

BODIES = [
    {"lines": [{"name": "Chleb", "quantity": "3", "unit_price_gross": "4.99", "vat_rate": "5"},
               {"name": "Kawa", "quantity": "1", "unit_price_gross": "39.99", "vat_rate": "23"}],
     "payment": {"method": "cash"}},
    {"buyer": {"name": "Firma Sp. z o.o.", "nip": "5260250995"},
     "lines": [{"name": "Usługa", "quantity": "2", "unit_price_net": "100.00", "vat_rate": "23"},
               {"name": "Książka", "quantity": "1", "unit_price_net": "50.00", "vat_rate": "5"},
               {"name": "Eksport usługi", "quantity": "1", "unit_price_net": "10.00", "vat_rate": "np"}],
     "payment": {"method": "transfer", "due_date": "2049-01-01"}},
    {"exemption_basis": "art. 43 ust. 1 pkt 37 ustawy o VAT",
     "lines": [{"name": "Ubezpieczenie", "quantity": "1", "unit_price_gross": "20.00", "vat_rate": "zw"},
               {"name": "Sok", "quantity": "4", "unit_price_gross": "3.33", "vat_rate": "8"},
               {"name": "Woda", "quantity": "1", "unit_price_gross": "2.00", "vat_rate": "0"}],
     "payment": {"method": "card"}},
]


def expected_from_stored_xml(db, day: dt.date) -> dict:
    """Sums over the day's stored XML, read with plain sqlite3 + lxml."""
    con = sqlite3.connect(db)
    try:
        rows = con.execute("SELECT number, kind, xml FROM invoices WHERE issue_date = ? ORDER BY id",
                           (day.isoformat(),)).fetchall()
    finally:
        con.close()
    rates: dict[str, list[Decimal]] = defaultdict(lambda: [Decimal(0), Decimal(0)])
    payments: dict[str, Decimal] = defaultdict(Decimal)
    gross = Decimal(0)
    for _, _, xml in rows:
        fa = etree.fromstring(xml).find("f:Fa", NS)
        for net_field, (rate, vat_field) in XSD_RATES.items():
            net = fa.findtext(f"f:{net_field}", namespaces=NS)
            if net is not None:
                rates[rate][0] += Decimal(net)
                rates[rate][1] += Decimal(fa.findtext(f"f:{vat_field}", namespaces=NS) or 0) if vat_field else 0
        p15 = Decimal(fa.findtext("f:P_15", namespaces=NS))
        gross += p15
        payments[XSD_PAYMENT[fa.findtext("f:Platnosc/f:FormaPlatnosci", namespaces=NS)]] += p15
    return {
        "invoices": sum(1 for r in rows if r[1] == "VAT"), "corrections": sum(1 for r in rows if r[1] == "KOR"),
        "first": rows[0][0], "last": rows[-1][0],
        "by_rate": {r: {"net": f"{n:.2f}", "vat": f"{v:.2f}", "gross": f"{n + v:.2f}"} for r, (n, v) in rates.items()},
        "by_payment": {m: f"{v:.2f}" for m, v in payments.items()},
        "gross": f"{gross:.2f}",
        "net": f"{sum(n for n, _ in rates.values()):.2f}", "vat": f"{sum(v for _, v in rates.values()):.2f}",
    }


async def issue_day(http, d) -> list[dict]:
    issued = []
    for i, body in enumerate(BODIES):
        async with http.post(d.base_url + "/v1/invoices", json=body, headers={**d.auth, "Idempotency-Key": f"day-{i}"}) as r:
            assert r.status == 201, await r.text()
            issued.append(await r.json())
    async with http.post(d.base_url + f"/v1/invoices/{issued[0]['id']}/corrections",
                         json={"reason": "Zwrot towaru", "refund_method": "cash",
                               "changes": [{"line_no": 1, "returned_quantity": "1"}]},
                         headers={**d.auth, "Idempotency-Key": "day-kor"}) as r:
        assert r.status == 201, await r.text()
    return issued


async def test_day_report_totals_equal_the_stored_xml_and_print_on_58_and_80_mm(tmp_path):
    sink = tmp_path / "printer.bin"
    sink.touch()
    printer = f'[printer]\nconnection = "file"\nfile_path = "{sink}"\npaper = "58mm"\n'
    async with in_process_daemon(tmp_path, extra_toml=printer) as d, aiohttp.ClientSession() as http:
        await issue_day(http, d)
        today = civil_date(dt.datetime.now(dt.timezone.utc))
        async with http.get(d.base_url + f"/v1/reports/day?date={today}", headers=d.auth) as r:
            assert r.status == 200
            report = await r.json()
        want = expected_from_stored_xml(d.files.db, today)
        assert (report["invoices"], report["corrections"]) == (3, 1) == (want["invoices"], want["corrections"])
        assert (report["first_number"], report["last_number"]) == (want["first"], want["last"])
        assert report["by_rate"] == want["by_rate"]
        assert set(report["by_rate"]) == {"23", "8", "5", "0", "zw", "np"}
        assert report["by_payment"] == want["by_payment"]
        assert report["totals"] == {"net": want["net"], "vat": want["vat"], "gross": want["gross"]}
        assert report["waiting_for_ksef"]["count"] == 4  # no KSeF in this test: everything waits
        assert report["nearest_deadline"] is not None

        # the same documents as a shift (time range) around now; another day is empty
        now = dt.datetime.now(dt.timezone.utc)
        params = {"from": (now - dt.timedelta(hours=1)).isoformat(), "to": (now + dt.timedelta(minutes=5)).isoformat()}
        async with http.get(d.base_url + "/v1/reports/day", params=params, headers=d.auth) as r:
            shift = await r.json()
        assert shift["totals"] == report["totals"] and shift["invoices"] == 3
        async with http.get(d.base_url + f"/v1/reports/day?date={today - dt.timedelta(days=1)}", headers=d.auth) as r:
            empty = await r.json()
        assert (empty["invoices"], empty["totals"]["gross"]) == (0, "0.00")

        gross_pl = want["gross"].replace(".", ",")
        for paper, columns in (("58mm", 32), ("80mm", 48)):
            async with http.get(d.base_url + f"/v1/reports/day.bin?date={today}&paper={paper}", headers=d.auth) as r:
                assert r.status == 200
                printed = parse(await r.read())
            assert all(len(line.text) <= columns for line in printed.lines), paper
            text = printed.text
            assert "RAPORT DOBOWY" in text and want["first"] in text and gross_pl in text
            assert "Czeka na KSeF" in text and "Stawka 23%" in text

        # printed on the device's (58 mm) printer through the real queue
        async with http.post(d.base_url + f"/v1/reports/day/print?date={today}", headers=d.auth) as r:
            assert r.status == 202, await r.text()
        for _ in range(200):
            if b"RAPORT DOBOWY" in sink.read_bytes():
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.2)
        printed = parse(sink.read_bytes())
        assert printed.text.count("RAPORT DOBOWY") == 1 and gross_pl in printed.text
        assert all(len(line.text) <= 32 for line in printed.lines)  # receipts and report, 58 mm paper


async def test_day_report_refuses_bad_queries_clearly(tmp_path):
    async with in_process_daemon(tmp_path) as d, aiohttp.ClientSession() as http:
        for query, field in (("date=2026-13-01", "date"), ("from=2026-12-07T06:00:00", "to"),
                             ("from=2026-12-07T06:00:00&to=2026-12-07T22:00:00", "from"),
                             ("from=2026-12-07T06:00:00%2B01:00&to=2026-12-30T06:00:00%2B01:00", "to"),
                             ("from=9999-12-31T23:00:00%2B00:00&to=9999-12-31T23:30:00%2B00:00", "from"),
                             ("date=2026-12-07&paper=A4", "paper")):
            path = "/v1/reports/day.bin" if "paper" in query else "/v1/reports/day"
            async with http.get(d.base_url + f"{path}?{query}", headers=d.auth) as r:
                body = await r.json()
                assert r.status == 400 and body["error"]["field"] == field, (query, body)
        async with http.post(d.base_url + "/v1/reports/day/print", headers=d.auth) as r:
            assert r.status == 409 and (await r.json())["error"]["code"] == "no_printer"
