"""The local API over real HTTP on 127.0.0.1 with a real SQLite file (in-process daemon, memory signer)."""
from __future__ import annotations

import asyncio
import base64
import copy
import datetime as dt
import hashlib
import json

import pytest

from daemon_fixtures import VALID_BODY, in_process_daemon, stored_invoices
from ksef_edge.domain.fa3 import validate_fa3
from ksef_edge.domain.qr import verify_kod2_url


async def post(http, d, body, key="k1", headers=None):
    h = {**d.auth, "Idempotency-Key": key, **(headers or {})}
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    if "Content-Type" not in h:
        h["Content-Type"] = "application/json"
    async with http.post(d.base_url + "/v1/invoices", data=data, headers=h) as r:
        return r.status, await r.json(), r.headers


async def test_issue_returns_durable_invoice_with_valid_xml_and_links(daemon, http):
    status, body, headers = await post(http, daemon, VALID_BODY)
    assert status == 201, body
    assert body["number"].startswith("FV/KASA1/") and body["number"].endswith("/000001")
    assert body["state"] == "issued" and body["print_state"] == "pending"
    assert body["kod1_url"].startswith("https://qr-test.ksef.mf.gov.pl/invoice/5265877635/")
    assert verify_kod2_url(body["kod2_url"], daemon.signer.public_key)
    assert dt.date.fromisoformat(body["deadline"]) > dt.date.fromisoformat(body["issue_date"])
    assert headers["Location"] == f"/v1/invoices/{body['id']}"
    async with http.get(daemon.base_url + f"/v1/invoices/{body['id']}/xml", headers=daemon.auth) as r:
        assert r.status == 200 and r.content_type == "application/xml"
        xml = await r.read()
    assert base64.b64encode(hashlib.sha256(xml).digest()).decode() == body["sha256"]
    validate_fa3(xml)
    assert body["number"].encode() in xml
    async with http.get(daemon.base_url + f"/v1/invoices/{body['id']}", headers=daemon.auth) as r:
        again = await r.json()
    assert again["number"] == body["number"] and again["ksef_number"] is None


async def test_200_concurrent_posts_get_200_distinct_gapless_numbers(daemon, http):
    results = await asyncio.gather(*(post(http, daemon, VALID_BODY, key=f"c{i}") for i in range(200)))
    assert all(s == 201 for s, _, _ in results)
    seqs = sorted(int(b["number"].rsplit("/", 1)[1]) for _, b, _ in results)
    assert seqs == list(range(1, 201))
    assert stored_invoices(daemon.files.db) == 200


async def test_same_idempotency_key_returns_same_invoice_and_different_body_conflicts(daemon, http):
    s1, b1, _ = await post(http, daemon, VALID_BODY, key="till-42")
    s2, b2, h2 = await post(http, daemon, VALID_BODY, key="till-42")
    assert (s1, s2) == (201, 201) and b1 == b2 and h2["Idempotent-Replayed"] == "true"
    other = copy.deepcopy(VALID_BODY)
    other["lines"][0]["quantity"] = "3"
    s3, b3, _ = await post(http, daemon, other, key="till-42")
    assert s3 == 409 and b3["error"]["code"] == "idempotency_conflict"
    assert stored_invoices(daemon.files.db) == 1


def _with(path, value):
    body = copy.deepcopy(VALID_BODY)
    target = body
    for part in path[:-1]:
        target = target[part]
    if value is KeyError:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return body


BAD_INPUTS = [
    ("not json", b"{nope", 400, "invalid_json", None),
    ("not an object", b"[1,2]", 400, "wrong_type", None),
    ("float price", b'{"lines":[{"name":"a","quantity":"1","unit_price_gross":12.3,"vat_rate":"23"}],"payment":{"method":"card"}}',
     400, "float_not_allowed", "lines[0].unit_price_gross"),
    ("NaN", b'{"lines":[{"name":"a","quantity":NaN,"unit_price_gross":"1","vat_rate":"23"}],"payment":{"method":"card"}}',
     400, "invalid_json", None),
    ("duplicate key", b'{"lines":[],"lines":[],"payment":{"method":"card"}}', 400, "duplicate_key", "lines"),
    ("missing lines", _with(["lines"], KeyError), 400, "missing_field", "lines"),
    ("empty lines", _with(["lines"], []), 400, "missing_field", "lines"),
    ("missing payment", _with(["payment"], KeyError), 400, "missing_field", "payment"),
    ("unknown field", _with(["lines", 0, "price"], "1"), 400, "unknown_field", "lines[0].price"),
    ("quantity wrong type", _with(["lines", 0, "quantity"], [1]), 400, "wrong_type", "lines[0].quantity"),
    ("zero quantity", _with(["lines", 0, "quantity"], "0"), 400, "out_of_range", "lines[0].quantity"),
    ("negative price", _with(["lines", 0, "unit_price_gross"], "-1.00"), 400, "invalid_amount", "lines[0].unit_price_gross"),
    ("exponent price", _with(["lines", 0, "unit_price_gross"], "1e3"), 400, "invalid_amount", "lines[0].unit_price_gross"),
    ("both prices", _with(["lines", 0, "unit_price_net"], "10.00"), 400, "missing_field", "lines[0].unit_price_gross"),
    ("bad vat rate", _with(["lines", 0, "vat_rate"], "22"), 422, "invalid_vat_rate", "lines[0].vat_rate"),
    ("invalid NIP", _with(["buyer", "nip"], "1234567890"), 422, "invalid_nip", "buyer.nip"),
    ("control char", _with(["lines", 0, "name"], "Ka\u0000wa"), 400, "invalid_characters", "lines[0].name"),
    ("lone surrogate", b'{"lines":[{"name":"\\ud800","quantity":"1","unit_price_gross":"1","vat_rate":"23"}],"payment":{"method":"card"}}',
     400, "invalid_characters", "lines[0].name"),
    ("blank name", _with(["lines", 0, "name"], " \u00a0 "), 400, "empty", "lines[0].name"),
    ("too long name", _with(["lines", 0, "name"], "ż" * 513), 400, "too_long", "lines[0].name"),
    ("bad utf-8", b'{"lines": "\xff"}', 400, "invalid_encoding", None),
    ("bad payment", _with(["payment", "method"], "bitcoin"), 422, "invalid_payment_method", "payment.method"),
    ("bad due date", _with(["payment", "due_date"], "2026-02-30"), 422, "invalid_date", "payment.due_date"),
    ("huge body", b'{"lines":[' + b" " * 70000 + b"]}", 413, "body_too_large", None),
]


@pytest.mark.parametrize("name,body,status,code,field", BAD_INPUTS, ids=[b[0] for b in BAD_INPUTS])
async def test_bad_input_is_refused_with_clear_error_and_nothing_stored(daemon, http, name, body, status, code, field):
    got_status, got, _ = await post(http, daemon, body, key="bad-" + name.replace(" ", "-"))
    assert got_status == status, got
    assert got["error"]["code"] == code
    assert got["error"]["field"] == field
    assert got["error"]["message"]
    assert stored_invoices(daemon.files.db) == 0
    # the key was not consumed: a corrected request with it succeeds
    ok_status, ok, _ = await post(http, daemon, VALID_BODY, key="bad-" + name.replace(" ", "-"))
    assert ok_status == 201 and ok["number"].endswith("/000001")


async def test_unicode_names_round_trip_exactly(daemon, http):
    body = _with(["lines", 0, "name"], "Zażółć gęślą jaźń 🍩 \u0065\u0301")
    status, b, _ = await post(http, daemon, body)
    assert status == 201
    async with http.get(daemon.base_url + f"/v1/invoices/{b['id']}/xml", headers=daemon.auth) as r:
        xml = (await r.read()).decode()
    assert "Zażółć gęślą jaźń 🍩 \u00e9" in xml  # NFC-normalised


async def test_missing_idempotency_key_and_wrong_content_type(daemon, http):
    async with http.post(daemon.base_url + "/v1/invoices", json=VALID_BODY, headers=daemon.auth) as r:
        assert r.status == 400 and (await r.json())["error"]["field"] == "Idempotency-Key"
    status, b, _ = await post(http, daemon, json.dumps(VALID_BODY), headers={"Content-Type": "text/plain"})
    assert status == 415
    assert stored_invoices(daemon.files.db) == 0


async def test_every_v1_call_needs_the_token_and_401_does_not_echo_it(daemon, http, caplog):
    for method, path in (("POST", "/v1/invoices"), ("GET", "/v1/invoices"), ("GET", "/v1/status"), ("GET", "/v1/invoices/1")):
        async with http.request(method, daemon.base_url + path, headers={"Authorization": "Bearer wrong-token-xyz"}) as r:
            assert r.status == 401
            assert (await r.json())["error"]["code"] == "unauthorized"
        async with http.request(method, daemon.base_url + path) as r:
            assert r.status == 401
    assert "wrong-token-xyz" not in caplog.text and daemon.token not in caplog.text
    async with http.get(daemon.base_url + "/healthz") as r:
        assert r.status == 200
        # the fleet updater checks which release answers after a switch
        from ksef_edge import __version__
        assert (await r.json())["version"] == __version__


async def test_list_is_paged_and_filters_by_state(daemon, http):
    for i in range(5):
        await post(http, daemon, VALID_BODY, key=f"l{i}")
    async with http.get(daemon.base_url + "/v1/invoices?limit=2", headers=daemon.auth) as r:
        page1 = await r.json()
    async with http.get(daemon.base_url + f"/v1/invoices?limit=2&after={page1['next_after']}", headers=daemon.auth) as r:
        page2 = await r.json()
    assert [i["id"] for i in page1["items"]] == [1, 2] and [i["id"] for i in page2["items"]] == [3, 4]
    async with http.get(daemon.base_url + "/v1/invoices?state=accepted", headers=daemon.auth) as r:
        assert (await r.json())["items"] == []
    async with http.get(daemon.base_url + "/v1/invoices?state=bogus", headers=daemon.auth) as r:
        assert r.status == 400
    async with http.get(daemon.base_url + "/v1/invoices/999", headers=daemon.auth) as r:
        assert r.status == 404 and (await r.json())["error"]["code"] == "not_found"


async def test_status_healthz_and_metrics(daemon, http):
    await post(http, daemon, VALID_BODY)
    async with http.get(daemon.base_url + "/v1/status", headers=daemon.auth) as r:
        st = await r.json()
    assert st["can_issue"] is True and st["queue"]["issued"] == 1
    assert st["nearest_deadline"] and st["ksef"]["reachability"] == "unknown"
    assert st["certificate"]["serial"] == daemon.signer.certificate_serial
    assert st["clock"]["sync"] in ("synchronized", "unsynchronized", "unknown")
    assert st["printer"]["state"] == "not_configured"
    async with http.get(daemon.base_url + "/metrics") as r:
        text = await r.text()
    assert 'ksef_edge_invoices{state="issued"} 1.0' in text
    assert "ksef_edge_invoices_issued_total 1.0" in text
    assert "ksef_edge_can_issue 1.0" in text


async def test_clock_behind_the_floor_is_refused(tmp_path, http):
    clock = {"now": dt.datetime.now(dt.timezone.utc)}
    async with in_process_daemon(tmp_path, now=lambda: clock["now"]) as d:
        status, first, _ = await post(http, d, VALID_BODY, key="a")
        assert status == 201
        clock["now"] -= dt.timedelta(hours=2)  # e.g. a reboot without RTC/NTP
        status, err, _ = await post(http, d, VALID_BODY, key="b")
        assert status == 503 and err["error"]["code"] == "clock_behind"
        assert "set the correct time" in err["error"]["message"]
        async with http.get(d.base_url + "/healthz") as r:
            assert r.status == 503
            assert (await r.json())["problems"][0]["code"] == "clock_behind"
        assert stored_invoices(d.files.db) == 1
