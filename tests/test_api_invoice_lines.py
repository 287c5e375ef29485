"""GET /v1/invoices/{id}/lines: what can still be returned, after earlier corrections (real daemon + SQLite)."""
from __future__ import annotations

from daemon_fixtures import VALID_BODY, api_call


async def test_lines_show_what_remains_after_each_correction(daemon):
    _, inv = await api_call(daemon, "POST", "/v1/invoices", VALID_BODY, "l-1")
    status, lines = await api_call(daemon, "GET", f"/v1/invoices/{inv['id']}/lines")
    assert status == 200, lines
    assert lines["price_kind"] == "gross" and lines["returnable"] is True and lines["corrections"] == 0
    assert [(ln["line_no"], ln["name"], ln["quantity"], ln["remaining_quantity"], ln["unit_price"], ln["vat_rate"])
            for ln in lines["lines"]] == [(1, "Kawa", "2", "2", "12.30", "23"), (2, "Rogal świętomarciński", "1", "1", "9.99", "5")]
    status, kor = await api_call(daemon, "POST", f"/v1/invoices/{inv['id']}/corrections",
                             {"reason": "Zwrot towaru", "refund_method": "cash",
                              "changes": [{"line_no": 1, "returned_quantity": "1"}]}, "l-2")
    assert status == 201, kor
    _, lines = await api_call(daemon, "GET", f"/v1/invoices/{inv['id']}/lines")
    assert [ln["remaining_quantity"] for ln in lines["lines"]] == ["1", "1"] and lines["corrections"] == 1
    status, kor2 = await api_call(daemon, "POST", f"/v1/invoices/{inv['id']}/corrections",
                              {"reason": "Zwrot towaru", "refund_method": "cash", "full_return": True}, "l-3")
    assert status == 201, kor2
    _, lines = await api_call(daemon, "GET", f"/v1/invoices/{inv['id']}/lines")
    assert [ln["remaining_quantity"] for ln in lines["lines"]] == ["0", "0"] and lines["returnable"] is False
    # a correction has no lines of its own to return: point at the original
    status, err = await api_call(daemon, "GET", f"/v1/invoices/{kor['id']}/lines")
    assert status == 422 and err["error"]["code"] == "correction_of_correction" and str(inv["id"]) in err["error"]["message"]
    status, err = await api_call(daemon, "GET", "/v1/invoices/999/lines")
    assert status == 404
