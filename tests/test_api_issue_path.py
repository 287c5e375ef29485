"""POST /v1/invoices is one hand-off to the store's writer thread and answers from the document it just
built (docs/benchmarks.md: ~8 aiosqlite round trips and a re-read + re-parse of the stored XML per
invoice made the latency mostly thread hand-offs). The answer must still be exactly what is stored."""
from __future__ import annotations

import aiosqlite

from daemon_fixtures import BUYER_NIP, VALID_BODY, api_call
from ksef_edge.issuing.invoice_totals import TotalsCache

NET_BODY = {  # net-priced, three rates and an exempt line: per-rate rounding on the net side
    "buyer": {"nip": BUYER_NIP, "name": "Hurtownia Sp. z o.o."},
    "lines": [
        {"name": "Catering", "quantity": "25", "unit": "os.", "unit_price_net": "32.00", "vat_rate": "8"},
        {"name": "Dowóz", "quantity": "1", "unit_price_net": "60.00", "vat_rate": "23"},
        {"name": "Mąka 25 kg", "quantity": "3", "unit_price_net": "71.47", "vat_rate": "5"},
        {"name": "Kurs", "quantity": "1", "unit_price_net": "350.00", "vat_rate": "zw"},
    ],
    "exemption_basis": "art. 43 ust. 1 pkt 29 lit. c ustawy o VAT",
    "payment": {"method": "transfer"},
}


async def test_an_issue_is_one_writer_call_and_reads_nothing_back(daemon, monkeypatch):
    store = daemon.daemon.store
    writer_calls: list[object] = []
    real_run = store._writer.run

    async def counted_run(fn):
        writer_calls.append(fn)
        return await real_run(fn)

    reads: list[object] = []
    real_execute = aiosqlite.Connection._execute

    async def counted_execute(self, fn, *args, **kwargs):
        reads.append(fn)
        return await real_execute(self, fn, *args, **kwargs)

    monkeypatch.setattr(store._writer, "run", counted_run)
    monkeypatch.setattr(aiosqlite.Connection, "_execute", counted_execute)
    status, body = await api_call(daemon, "POST", "/v1/invoices", VALID_BODY, key="one-hand-off")
    assert status == 201, body
    assert len(writer_calls) == 1, "the whole issuance (number, build, insert, commit) is one writer call"
    assert reads == [], "the 201 is built from the committed document, not read back"


async def test_the_201_is_exactly_what_a_later_read_of_the_stored_invoice_shows(daemon):
    for key, request in (("gross", VALID_BODY), ("net", NET_BODY)):
        status, issued = await api_call(daemon, "POST", "/v1/invoices", request, key=key)
        assert status == 201, issued
        daemon.daemon.state._totals = TotalsCache()  # force GET to parse the stored bytes
        status, stored = await api_call(daemon, "GET", f"/v1/invoices/{issued['id']}")
        assert status == 200
        assert issued == stored  # every field, totals included (read back from the XML by GET)
        status, replayed = await api_call(daemon, "POST", "/v1/invoices", request, key=key)
        assert status == 201 and replayed == stored
