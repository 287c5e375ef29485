"""Receipts through the real print queue into a file printer: printed after issue, reprint as a copy."""
from __future__ import annotations

import asyncio

import aiohttp

from daemon_fixtures import VALID_BODY, in_process_daemon


async def wait_print_state(http, d, invoice_id, want, timeout_s=10.0):
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        async with http.get(d.base_url + f"/v1/invoices/{invoice_id}", headers=d.auth) as r:
            state = (await r.json())["print_state"]
        if state == want or asyncio.get_running_loop().time() > deadline:
            return state
        await asyncio.sleep(0.05)


async def test_issued_invoice_is_printed_and_reprint_prints_a_copy(tmp_path):
    sink = tmp_path / "printer.bin"
    sink.touch()
    printer = f'[printer]\nconnection = "file"\nfile_path = "{sink}"\npaper = "80mm"\n'
    async with in_process_daemon(tmp_path, extra_toml=printer) as d, aiohttp.ClientSession() as http:
        async with http.post(d.base_url + "/v1/invoices", json=VALID_BODY, headers={**d.auth, "Idempotency-Key": "p1"}) as r:
            inv = await r.json()
            assert r.status == 201
        assert await wait_print_state(http, d, inv["id"], "printed") == "printed"
        first = sink.read_bytes()
        assert inv["number"].encode() in first
        async with http.post(d.base_url + f"/v1/invoices/{inv['id']}/reprint", headers=d.auth) as r:
            assert r.status == 202
        assert await wait_print_state(http, d, inv["id"], "printed") == "printed"
        deadline = asyncio.get_running_loop().time() + 10   # the state was "printed" already: wait for the copy
        while b"DUPLIKAT" not in sink.read_bytes() and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.02)
        second = sink.read_bytes()[len(first):] if sink.read_bytes().startswith(first) else sink.read_bytes()
        assert inv["number"].encode() in second and b"DUPLIKAT" in second
        async with http.get(d.base_url + "/v1/status", headers=d.auth) as r:
            assert (await r.json())["printer"]["queue"]["printed"] == 1


async def test_reprint_without_printer_is_a_clear_409(tmp_path):
    async with in_process_daemon(tmp_path) as d, aiohttp.ClientSession() as http:
        async with http.post(d.base_url + "/v1/invoices", json=VALID_BODY, headers={**d.auth, "Idempotency-Key": "p1"}) as r:
            inv = await r.json()
        async with http.post(d.base_url + f"/v1/invoices/{inv['id']}/reprint", headers=d.auth) as r:
            assert r.status == 409 and (await r.json())["error"]["code"] == "no_printer"
