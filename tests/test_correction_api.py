"""Correction invoices (KOR) through the real local API: in-process daemon, real SQLite file, real HTTP.

Amounts are worked out by hand from VALID_BODY (Kawa 2 x 12.30 at 23 %, Rogal 1 x 9.99 at 5 %), the
KOR bytes are checked against the official FA(3) XSD, KOD I against their hash, KOD II against the
certificate's key, and the printed receipt is read back from the printer's byte stream.
"""
from __future__ import annotations

import asyncio
import base64
import datetime as dt
import hashlib
import sqlite3
from decimal import Decimal as D

import zxingcpp
from lxml import etree

from daemon_fixtures import VALID_BODY, in_process_daemon
from escpos_reader import parse
from ksef_edge.domain.fa3 import FA3_NS, validate_fa3
from ksef_edge.domain.ksef_number import make_ksef_number
from ksef_edge.domain.qr import verify_kod2_url

NS = {"f": FA3_NS}
RETURN_ONE_COFFEE = {"reason": "Zwrot towaru", "refund_method": "cash",
                     "changes": [{"line_no": 1, "returned_quantity": "1"}]}


def db_rows(d) -> list[tuple]:
    con = sqlite3.connect(d.files.db)
    try:
        return con.execute("SELECT id, kind, number, corrects_id FROM invoices ORDER BY id").fetchall()
    finally:
        con.close()


async def issue(http, d, key="inv1", body=VALID_BODY):
    async with http.post(d.base_url + "/v1/invoices", json=body, headers={**d.auth, "Idempotency-Key": key}) as r:
        assert r.status == 201, await r.text()
        return await r.json()


async def correct(http, d, invoice_id, body, key):
    async with http.post(d.base_url + f"/v1/invoices/{invoice_id}/corrections", json=body,
                         headers={**d.auth, "Idempotency-Key": key}) as r:
        return r.status, await r.json(), r.headers


async def kor_xml(http, d, kor) -> etree._Element:
    async with http.get(d.base_url + f"/v1/invoices/{kor['id']}/xml", headers=d.auth) as r:
        xml = await r.read()
    validate_fa3(xml)  # the official XSD
    assert base64.b64encode(hashlib.sha256(xml).digest()).decode() == kor["sha256"]
    digest = base64.urlsafe_b64encode(hashlib.sha256(xml).digest()).decode().rstrip("=")
    assert kor["kod1_url"].endswith("/" + digest)  # KOD I: the correction's own bytes ...
    day = dt.date.fromisoformat(kor["issue_date"])
    assert f"/{day:%d-%m-%Y}/" in kor["kod1_url"]  # ... and its own issue date
    assert verify_kod2_url(kor["kod2_url"], d.signer.public_key)
    return etree.fromstring(xml)


def amounts(root) -> dict[str, D]:
    fa = root.find("f:Fa", NS)
    return {el.tag.split("}")[1]: D(el.text) for el in fa if el.tag.split("}")[1].startswith(("P_13", "P_14", "P_15"))}


async def test_full_return_reverses_every_line_and_cannot_be_repeated(daemon, http):
    inv = await issue(http, daemon)
    status, kor, headers = await correct(http, daemon, inv["id"], {"reason": "Zwrot towaru", "refund_method": "card",
                                                                     "full_return": True}, "k1")
    assert status == 201, kor
    assert kor["kind"] == "KOR" and kor["number"].startswith("KOR/KASA1/") and kor["number"].endswith("/000001")
    assert kor["corrects"]["id"] == inv["id"] and kor["corrects"]["number"] == inv["number"]
    assert kor["state"] == "issued" and kor["deadline"] is not None  # its own deadline
    assert headers["Location"] == f"/v1/invoices/{kor['id']}"
    root = await kor_xml(http, daemon, kor)
    assert root.findtext("f:Fa/f:RodzajFaktury", namespaces=NS) == "KOR"
    assert root.findtext("f:Fa/f:DaneFaKorygowanej/f:NrFaKorygowanej", namespaces=NS) == inv["number"]
    assert root.findtext("f:Fa/f:DaneFaKorygowanej/f:NrKSeFN", namespaces=NS) == "1"  # original not in KSeF yet
    # 24.60 at 23 %: VAT 4.60, net 20.00; 9.99 at 5 %: VAT 0.48, net 9.51 -> all of it back
    assert amounts(root) == {"P_13_1": D("-20.00"), "P_14_1": D("-4.60"), "P_13_3": D("-9.51"),
                             "P_14_3": D("-0.48"), "P_15": D("-34.59")}
    assert root.findtext("f:Fa/f:Platnosc/f:FormaPlatnosci", namespaces=NS) == "2"  # card refund
    before = len(db_rows(daemon))
    status, err, _ = await correct(http, daemon, inv["id"], {"reason": "Zwrot", "refund_method": "cash",
                                                               "full_return": True}, "k2")
    assert status == 422 and err["error"]["field"] == "full_return"
    assert "already been returned" in err["error"]["message"]
    assert len(db_rows(daemon)) == before


async def test_partial_returns_add_up_and_cannot_exceed_what_was_sold(daemon, http):
    inv = await issue(http, daemon)
    status, kor1, _ = await correct(http, daemon, inv["id"], RETURN_ONE_COFFEE, "r1")
    assert status == 201, kor1
    root = await kor_xml(http, daemon, kor1)
    rows = [(w.findtext("f:P_8B", namespaces=NS), w.findtext("f:P_11A", namespaces=NS),
             w.findtext("f:StanPrzed", namespaces=NS)) for w in root.iterfind("f:Fa/f:FaWiersz", NS)]
    assert rows == [("2", "24.60", "1"), ("1", "12.30", None)]  # before / after, unchanged lines left out
    assert amounts(root) == {"P_13_1": D("-10.00"), "P_14_1": D("-2.30"), "P_15": D("-12.30")}

    before = db_rows(daemon)
    status, err, _ = await correct(http, daemon, inv["id"], {**RETURN_ONE_COFFEE, "changes": [
        {"line_no": 1, "returned_quantity": "2"}]}, "r2")
    assert status == 422 and err["error"]["field"] == "changes[0].returned_quantity"
    assert "only 1 remain" in err["error"]["message"] and "sold 2" in err["error"]["message"]
    assert db_rows(daemon) == before

    status, kor2, _ = await correct(http, daemon, inv["id"], RETURN_ONE_COFFEE, "r3")
    assert status == 201 and kor2["number"].endswith("/000002")  # gapless: the refusal used no number
    assert amounts(await kor_xml(http, daemon, kor2))["P_15"] == D("-12.30")
    status, err, _ = await correct(http, daemon, inv["id"], RETURN_ONE_COFFEE, "r4")
    assert status == 422 and err["error"]["field"] == "changes[0].line_no"
    assert "fully returned" in err["error"]["message"]
    async with http.get(daemon.base_url + f"/v1/invoices/{inv['id']}/corrections", headers=daemon.auth) as r:
        listed = (await r.json())["items"]
    assert [k["number"] for k in listed] == [kor1["number"], kor2["number"]]


async def test_price_correction_and_totals_reconcile_to_the_grosz(daemon, http):
    inv = await issue(http, daemon)
    status, kor, _ = await correct(http, daemon, inv["id"], {"reason": "Błędna cena", "refund_method": "cash",
                                                               "changes": [{"line_no": 2, "new_unit_price": "8.99"}]}, "p1")
    assert status == 201, kor
    root = await kor_xml(http, daemon, kor)
    # 5 %: 9.99 -> VAT 0.48 net 9.51; 8.99 -> VAT 0.43 net 8.56
    assert amounts(root) == {"P_13_3": D("-0.95"), "P_14_3": D("-0.05"), "P_15": D("-1.00")}
    assert root.findtext("f:Fa/f:TypKorekty", namespaces=NS) == "2"  # a decrease: at the correction's date
    assert root.findtext("f:Fa/f:PrzyczynaKorekty", namespaces=NS) == "Błędna cena"
    status, kor2, _ = await correct(http, daemon, inv["id"], {"reason": "Zwrot", "refund_method": "cash",
                                                                "full_return": True}, "p2")
    assert status == 201, kor2
    after_return = amounts(await kor_xml(http, daemon, kor2))
    assert after_return == {"P_13_1": D("-20.00"), "P_14_1": D("-4.60"), "P_13_3": D("-8.56"),
                            "P_14_3": D("-0.43"), "P_15": D("-33.59")}  # the second folds the first
    async with http.get(daemon.base_url + f"/v1/invoices/{inv['id']}/xml", headers=daemon.auth) as r:
        original = amounts(etree.fromstring(await r.read()))
    for key in original:  # original + every correction = the invoice as it finally stands (nothing)
        total = original[key] + D("0") + amounts(root).get(key, D("0")) + after_return.get(key, D("0"))
        assert total == D("0.00"), key


async def test_bad_corrections_are_4xx_and_store_nothing(daemon, http):
    inv = await issue(http, daemon)
    status, kor, _ = await correct(http, daemon, inv["id"], RETURN_ONE_COFFEE, "ok1")
    assert status == 201
    before = db_rows(daemon)
    cases = [
        (9999, RETURN_ONE_COFFEE, 404, "not_found", "id"),
        (kor["id"], RETURN_ONE_COFFEE, 422, "correction_of_correction", "id"),
        (inv["id"], {**RETURN_ONE_COFFEE, "changes": [{"line_no": 3, "returned_quantity": "1"}]}, 422,
         "invalid_correction", "changes[0].line_no"),
        (inv["id"], {**RETURN_ONE_COFFEE, "changes": [{"line_no": 2, "returned_quantity": "1.5"}]}, 422,
         "invalid_correction", "changes[0].returned_quantity"),
        (inv["id"], {**RETURN_ONE_COFFEE, "refund_method": "bitcoin"}, 422, "invalid_correction", "refund_method"),
        (inv["id"], {**RETURN_ONE_COFFEE, "reason": "  "}, 422, "invalid_correction", "reason"),
        (inv["id"], {**RETURN_ONE_COFFEE, "full_return": True}, 422, "invalid_correction", "full_return"),
        (inv["id"], {**RETURN_ONE_COFFEE, "changes": [{"line_no": 2, "new_unit_price": "9.99"}]}, 422,
         "invalid_correction", "changes[0].new_unit_price"),
        (inv["id"], {**RETURN_ONE_COFFEE, "colour": "red"}, 422, "invalid_correction", "colour"),
    ]
    for i, (target, body, want_status, code, field) in enumerate(cases):
        status, err, _ = await correct(http, daemon, target, body, f"bad{i}")
        assert (status, err["error"]["code"], err["error"]["field"]) == (want_status, code, field), (i, err)
        assert err["error"]["message"]
    async with http.post(daemon.base_url + f"/v1/invoices/{inv['id']}/corrections", data=b"{",
                         headers={**daemon.auth, "Idempotency-Key": "j", "Content-Type": "application/json"}) as r:
        assert r.status == 400 and (await r.json())["error"]["code"] == "invalid_json"
    async with http.post(daemon.base_url + f"/v1/invoices/{inv['id']}/corrections", json=RETURN_ONE_COFFEE,
                         headers=daemon.auth) as r:
        assert r.status == 400 and (await r.json())["error"]["field"] == "Idempotency-Key"
    assert db_rows(daemon) == before


async def test_idempotent_replay_and_key_conflicts(daemon, http):
    inv = await issue(http, daemon)
    other = await issue(http, daemon, key="inv2")
    status, first, _ = await correct(http, daemon, inv["id"], RETURN_ONE_COFFEE, "same")
    assert status == 201
    status, again, headers = await correct(http, daemon, inv["id"], RETURN_ONE_COFFEE, "same")
    assert status == 201 and again["id"] == first["id"] and headers.get("Idempotent-Replayed") == "true"
    status, err, _ = await correct(http, daemon, other["id"], RETURN_ONE_COFFEE, "same")  # same body, other invoice
    assert status == 409 and err["error"]["code"] == "idempotency_conflict"
    status, err, _ = await correct(http, daemon, inv["id"], {**RETURN_ONE_COFFEE, "reason": "Inny"}, "same")
    assert status == 409
    assert [r[1] for r in db_rows(daemon)] == ["VAT", "VAT", "KOR"]


async def test_concurrent_returns_cannot_both_take_the_last_unit(daemon, http):
    inv = await issue(http, daemon)
    body = {"reason": "Zwrot", "refund_method": "cash", "changes": [{"line_no": 2, "returned_quantity": "1"}]}
    results = await asyncio.gather(*(correct(http, daemon, inv["id"], body, f"c{i}") for i in range(5)))
    assert sorted(r[0] for r in results) == [201, 422, 422, 422, 422]
    assert [r[1] for r in db_rows(daemon)].count("KOR") == 1


async def test_correction_of_an_accepted_invoice_quotes_its_ksef_number_and_prints_it(tmp_path, http):
    sink = tmp_path / "printer.bin"
    sink.touch()
    printer = f'[printer]\nconnection = "file"\nfile_path = "{sink}"\npaper = "80mm"\n'
    async with in_process_daemon(tmp_path, extra_toml=printer) as d:
        inv = await issue(http, d)
        ksef_number = make_ksef_number("5265877635", dt.date.fromisoformat(inv["issue_date"]), "0100806C1E7A")
        await d.daemon.store.mark_sending(inv["id"], "20251010-SO-0000000000-0000000000-00")
        await d.daemon.store.mark_accepted(inv["id"], ksef_number)
        status, kor, _ = await correct(http, d, inv["id"], RETURN_ONE_COFFEE, "a1")
        assert status == 201 and kor["corrects"]["ksef_number"] == ksef_number
        root = await kor_xml(http, d, kor)
        ref = root.find("f:Fa/f:DaneFaKorygowanej", NS)
        assert ref.findtext("f:NrKSeF", namespaces=NS) == "1"
        assert ref.findtext("f:NrKSeFFaKorygowanej", namespaces=NS) == ksef_number
        for _ in range(200):
            async with http.get(d.base_url + f"/v1/invoices/{kor['id']}", headers=d.auth) as r:
                if (await r.json())["print_state"] == "printed":
                    break
            await asyncio.sleep(0.05)
        data = sink.read_bytes()
        start = data.rfind(b"\x1b@")  # the last receipt (the correction's) starts with ESC @
        parsed = parse(data[start:] if start > 0 else data, codepages={18: "cp852"})
        text = parsed.text
        assert "FAKTURA KORYGUJĄCA" in text and kor["number"] in text
        assert inv["number"] in text and ksef_number in text and "Przyczyna: Zwrot towaru" in text
        assert "przed: 2 szt x 12,30" in text and "po:    1 szt x 12,30" in text
        assert "DO ZWROTU" in text and "12,30 PLN" in text
        payloads = parsed.qr_payloads or [zxingcpp.read_barcodes(img)[0].text for img in parsed.rasters]
        assert payloads == [kor["kod1_url"], kor["kod2_url"]]


async def test_status_alarms_when_a_correction_waits_behind_a_rejected_or_late_original(tmp_path, http):
    clock = {"now": dt.datetime.now(dt.timezone.utc)}
    async with in_process_daemon(tmp_path, now=lambda: clock["now"]) as d:
        rejected = await issue(http, d, key="r")
        late = await issue(http, d, key="l")
        for inv, key in ((rejected, "kr"), (late, "kl")):
            status, _, _ = await correct(http, d, inv["id"], RETURN_ONE_COFFEE, key)
            assert status == 201
        async with http.get(d.base_url + "/v1/status", headers=d.auth) as r:
            corrections = (await r.json())["corrections"]
        assert corrections == {"waiting": 2, "alarms": []}  # waiting is normal; nothing is late yet
        await d.daemon.store.mark_sending(rejected["id"], "20251010-SO-0000000000-0000000000-00")
        await d.daemon.store.mark_rejected(rejected["id"], "450", "Błąd weryfikacji semantyki")
        clock["now"] += dt.timedelta(days=6)  # past every offline24 deadline (next working day)
        async with http.get(d.base_url + "/v1/status", headers=d.auth) as r:
            alarms = {a["original_number"]: a for a in (await r.json())["corrections"]["alarms"]}
        assert set(alarms) == {rejected["number"], late["number"]}
        assert any("rejected" in s for s in alarms[rejected["number"]]["reasons"])
        assert any("is late" in s for s in alarms[late["number"]]["reasons"])
        assert alarms[late["number"]]["original_state"] == "issued"
        async with http.get(d.base_url + "/metrics") as r:
            metrics = await r.text()
        assert "ksef_edge_corrections_at_risk 2.0" in metrics


async def test_return_of_an_exempt_sale_carries_the_exemption_basis(daemon, http):
    body = {"buyer": None, "exemption_basis": "art. 43 ust. 1 pkt 37 ustawy o VAT",
            "lines": [{"name": "Ubezpieczenie sprzętu", "quantity": "1", "unit": "szt",
                       "unit_price_gross": "49.00", "vat_rate": "zw"}],
            "payment": {"method": "cash"}}
    inv = await issue(http, daemon, key="zw1", body=body)
    status, kor, _ = await correct(http, daemon, inv["id"], {"reason": "Zwrot", "refund_method": "cash",
                                                               "full_return": True}, "kzw")
    assert status == 201, kor
    root = await kor_xml(http, daemon, kor)
    assert root.findtext("f:Fa/f:Adnotacje/f:Zwolnienie/f:P_19A", namespaces=NS) == body["exemption_basis"]
    assert amounts(root) == {"P_13_7": D("-49.00"), "P_15": D("-49.00")}
