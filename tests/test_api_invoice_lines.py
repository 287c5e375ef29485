"""GET /v1/invoices/{id}/lines: what can still be returned, after earlier corrections (real daemon + SQLite)."""
from __future__ import annotations

import aiohttp
import pytest

from daemon_fixtures import VALID_BODY, in_process_daemon


@pytest.fixture
async def daemon(tmp_path):
    async with in_process_daemon(tmp_path) as d:
        yield d


async def call(d, method, path, body=None, key=None):
    headers = {**d.auth, **({"Idempotency-Key": key} if key else {})}
    async with aiohttp.ClientSession() as http:
        async with http.request(method, d.base_url + path, json=body, headers=headers) as r:
            return r.status, await r.json()


async def test_lines_show_what_remains_after_each_correction(daemon):
    _, inv = await call(daemon, "POST", "/v1/invoices", VALID_BODY, "l-1")
    status, lines = await call(daemon, "GET", f"/v1/invoices/{inv['id']}/lines")
    assert status == 200, lines
    assert lines["price_kind"] == "gross" and lines["returnable"] is True and lines["corrections"] == 0
    assert [(l["line_no"], l["name"], l["quantity"], l["remaining_quantity"], l["unit_price"], l["vat_rate"])
            for l in lines["lines"]] == [(1, "Kawa", "2", "2", "12.30", "23"), (2, "Rogal świętomarciński", "1", "1", "9.99", "5")]
    status, kor = await call(daemon, "POST", f"/v1/invoices/{inv['id']}/corrections",
                             {"reason": "Zwrot towaru", "refund_method": "cash",
                              "changes": [{"line_no": 1, "returned_quantity": "1"}]}, "l-2")
    assert status == 201, kor
    _, lines = await call(daemon, "GET", f"/v1/invoices/{inv['id']}/lines")
    assert [l["remaining_quantity"] for l in lines["lines"]] == ["1", "1"] and lines["corrections"] == 1
    status, kor2 = await call(daemon, "POST", f"/v1/invoices/{inv['id']}/corrections",
                              {"reason": "Zwrot towaru", "refund_method": "cash", "full_return": True}, "l-3")
    assert status == 201, kor2
    _, lines = await call(daemon, "GET", f"/v1/invoices/{inv['id']}/lines")
    assert [l["remaining_quantity"] for l in lines["lines"]] == ["0", "0"] and lines["returnable"] is False
    # a correction has no lines of its own to return: point at the original
    status, err = await call(daemon, "GET", f"/v1/invoices/{kor['id']}/lines")
    assert status == 422 and err["error"]["code"] == "correction_of_correction" and str(inv["id"]) in err["error"]["message"]
    status, err = await call(daemon, "GET", "/v1/invoices/999/lines")
    assert status == 404
