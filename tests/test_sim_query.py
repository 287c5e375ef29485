"""ksef-sim reads invoices back (issue #25): POST /invoices/query/metadata (routes_query.py), and the files it
lists through GET /invoices/ksef/{ksefNumber}, checked by the independent test client against the official
open-api.json (ContractChecker)."""
from __future__ import annotations

import base64
import datetime as dt
import hashlib

from sim_client import KsefTestClient, template_invoice
from sim_fixtures import SIM_NIP, SIM_TOKEN


def _range(days: int = 2) -> dict:
    now = dt.datetime.now(dt.timezone.utc)
    return {"dateType": "Invoicing", "from": (now - dt.timedelta(days=days)).isoformat(), "to": now.isoformat()}


async def test_metadata_query_lists_accepted_invoices_and_download_returns_their_exact_bytes(
        ksef_client: KsefTestClient):
    await ksef_client.authenticate(SIM_NIP, SIM_TOKEN)
    session, crypto = await ksef_client.open_online()
    sent = {n: template_invoice(n) for n in (1, 2, 3)}
    for xml in sent.values():
        ref = await ksef_client.send_invoice(session, crypto, xml)
        assert (await ksef_client.wait_invoice(session, ref))["status"]["code"] == 200
    by_hash = {base64.b64encode(hashlib.sha256(x).digest()).decode(): x for x in sent.values()}

    first = (await ksef_client.expect(200, "POST", "/invoices/query/metadata?pageSize=10&pageOffset=0",
                                      json_body={"subjectType": "Subject1", "dateRange": _range()})).json()
    assert first["hasMore"] is False and first["isTruncated"] is False
    listed = first["invoices"]
    assert len(listed) == 3 and {i["invoiceHash"] for i in listed} == set(by_hash)
    assert all(i["seller"]["nip"] == SIM_NIP for i in listed)

    one = listed[1]
    only = (await ksef_client.expect(200, "POST", "/invoices/query/metadata", json_body={
        "subjectType": "Subject1", "dateRange": _range(), "invoiceNumber": one["invoiceNumber"]})).json()
    assert [i["ksefNumber"] for i in only["invoices"]] == [one["ksefNumber"]]

    for item in listed:
        got = await ksef_client.expect(200, "GET", f"/invoices/ksef/{item['ksefNumber']}",
                                       headers={"Accept": "application/xml"})
        assert got.body == by_hash[item["invoiceHash"]]  # byte for byte what was sent
        assert got.headers["x-ms-meta-hash"] == item["invoiceHash"]


async def test_metadata_query_refuses_bad_filters_with_21405(
        ksef_client: KsefTestClient):
    await ksef_client.authenticate(SIM_NIP, SIM_TOKEN)
    too_long = await ksef_client.request("POST", "/invoices/query/metadata",
                                         json_body={"subjectType": "Subject1", "dateRange": _range(days=120)})
    assert too_long.status == 400 and too_long.exception_codes() == [21405]
    no_type = await ksef_client.request("POST", "/invoices/query/metadata", json_body={"dateRange": _range()},
                                        validate_request=False)
    assert no_type.status == 400 and no_type.exception_codes() == [21405]
    page = await ksef_client.request("POST", "/invoices/query/metadata?pageSize=500",
                                     json_body={"subjectType": "Subject1", "dateRange": _range()},
                                     validate_request=False)
    assert page.status == 400 and page.exception_codes() == [21405]
