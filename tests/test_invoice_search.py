"""Finding an old invoice: by NIP, name, number, amount, date range and state, paged; and reprinting an
old invoice as a duplicate that says so, with the copy's date.

Real in-process daemon on 127.0.0.1 with a real SQLite file; the clock is moved to issue "last week".
"""
from __future__ import annotations

import asyncio
import datetime as dt
from decimal import Decimal

import aiohttp

from daemon_fixtures import in_process_daemon
from ksef_edge.civil_time import warsaw_date as civil_date

BUYERS = [("Hurtownia Pod Lipą Sp. z o.o.", "5260250995"), ("Piekarnia Łączka", "7740001454"), (None, None)]


def body(i: int) -> dict:
    name, nip = BUYERS[i % 3]
    price = f"{10 + i}.50"
    out: dict = {"lines": [{"name": f"Towar {i}", "quantity": "2", "unit_price_gross": price, "vat_rate": "23"}],
                 "payment": {"method": "card"}}
    if name:
        out["buyer"] = {"name": name, "nip": nip}
    return out


def gross(i: int) -> str:
    return f"{Decimal(2) * Decimal(f'{10 + i}.50'):.2f}"


async def wait_printed(http, d, invoice_id: int) -> None:
    for _ in range(200):
        async with http.get(d.base_url + f"/v1/invoices/{invoice_id}", headers=d.auth) as r:
            if (await r.json())["print_state"] == "printed":
                return
        await asyncio.sleep(0.05)
    raise AssertionError("receipt not printed")


async def search(http, d, **params) -> list[dict]:
    async with http.get(d.base_url + "/v1/search/invoices", params=params, headers=d.auth) as r:
        assert r.status == 200, await r.text()
        return (await r.json())["invoices"]


async def test_search_finds_the_right_invoices_and_pages_through_them(tmp_path):
    now = dt.datetime.now(dt.timezone.utc)
    clock = [now - dt.timedelta(days=8)]
    async with in_process_daemon(tmp_path, now=lambda: clock[0]) as d, aiohttp.ClientSession() as http:
        numbers = {}
        for i in range(9):
            if i == 6:
                clock[0] = now  # the last three today, the first six "last week"
            async with http.post(d.base_url + "/v1/invoices", json=body(i),
                                 headers={**d.auth, "Idempotency-Key": f"s-{i}"}) as r:
                assert r.status == 201, await r.text()
                numbers[i] = (await r.json())["number"]
        week_ago, today = civil_date(now - dt.timedelta(days=8)), civil_date(now)

        hits = await search(http, d, nip="5260250995")
        assert [h["number"] for h in hits] == [numbers[i] for i in (6, 3, 0)]  # newest first
        assert all(h["buyer_name"] == "Hurtownia Pod Lipą Sp. z o.o." for h in hits)
        assert [h["number"] for h in await search(http, d, nip="526-025-09-95", **{"from": today.isoformat()})] \
            == [numbers[6]]
        last_week = await search(http, d, **{"from": week_ago.isoformat(), "to": week_ago.isoformat()})
        assert sorted(h["number"] for h in last_week) == sorted(numbers[i] for i in range(6))
        assert [h["number"] for h in await search(http, d, name="łączka")] == [numbers[i] for i in (7, 4, 1)]
        [one] = await search(http, d, amount=gross(5))
        assert (one["number"], one["gross"]) == (numbers[5], gross(5))
        ranged = await search(http, d, amount_min=gross(2), amount_max=gross(4).replace(".", ","))
        assert sorted(h["number"] for h in ranged) == sorted(numbers[i] for i in (2, 3, 4))
        assert [h["number"] for h in await search(http, d, number=numbers[8])] == [numbers[8]]
        assert len(await search(http, d, state="issued")) == 9 and await search(http, d, state="confirmed") == []

        seen, before = [], None
        while True:
            params = {"limit": "4", **({"before": str(before)} if before else {})}
            async with http.get(d.base_url + "/v1/search/invoices", params=params, headers=d.auth) as r:
                page = await r.json()
            seen += [h["number"] for h in page["invoices"]]
            before = page["next_before"]
            if before is None:
                break
        assert seen == [numbers[i] for i in reversed(range(9))]

        for params, field in (({"nip": "123"}, "nip"), ({"from": "2026-02-30"}, "from"), ({"amount": "1e3"}, "amount"),
                              ({"state": "lost"}, "state"), ({"limit": "0"}, "limit")):
            async with http.get(d.base_url + "/v1/search/invoices", params=params, headers=d.auth) as r:
                assert r.status == 400 and (await r.json())["error"]["field"] == field


async def test_an_old_invoice_reprints_as_a_duplicate_with_the_copy_date(tmp_path):
    sink = tmp_path / "printer.bin"
    sink.touch()
    printer = f'[printer]\nconnection = "file"\nfile_path = "{sink}"\npaper = "80mm"\n'
    now = dt.datetime.now(dt.timezone.utc)
    clock = [now - dt.timedelta(days=30)]
    async with in_process_daemon(tmp_path, now=lambda: clock[0], extra_toml=printer) as d, \
            aiohttp.ClientSession() as http:
        async with http.post(d.base_url + "/v1/invoices", json=body(0), headers={**d.auth, "Idempotency-Key": "old"}) as r:
            old = await r.json()
        await wait_printed(http, d, old["id"])
        first = sink.read_bytes()
        assert b"DUPLIKAT" not in first
        clock[0] = now
        [hit] = await search(http, d, nip="5260250995")
        async with http.post(d.base_url + f"/v1/invoices/{hit['id']}/reprint", headers=d.auth) as r:
            assert r.status == 202
        await asyncio.sleep(0.1)
        await wait_printed(http, d, old["id"])
        data = sink.read_bytes()  # the file printer may start each job afresh
        copy = data[len(first):] if data.startswith(first) else data
        assert b"DUPLIKAT" in copy and old["number"].encode() in copy
        assert f"Data duplikatu: {civil_date(now).isoformat()}".encode() in copy
