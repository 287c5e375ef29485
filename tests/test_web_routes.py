"""The page's HTTP side on a real in-process daemon (127.0.0.1, real SQLite, file printer sink):
static files, the receipt preview/ESC-POS downloads behind the API token, UPO download errors."""
from __future__ import annotations

import asyncio
import io
from pathlib import Path

import aiohttp
import zxingcpp
from PIL import Image

from daemon_fixtures import VALID_BODY, in_process_daemon
from escpos_reader import parse


def printer_toml(dir: Path) -> str:
    return f'[printer]\nconnection = "file"\nfile_path = "{dir / "printer.bin"}"\n'


async def issue_and_print(http: aiohttp.ClientSession, rd, key: str = "web-1") -> dict:
    async with http.post(rd.base_url + "/v1/invoices", json=VALID_BODY,
                         headers={**rd.auth, "Idempotency-Key": key}) as resp:
        assert resp.status == 201
        inv = await resp.json()
    return await wait_printed(http, rd, inv["id"], tries=200)


async def test_page_is_served_without_data_and_with_safe_headers(tmp_path: Path) -> None:
    async with in_process_daemon(tmp_path) as rd, aiohttp.ClientSession() as http:
        async with http.get(rd.base_url + "/", allow_redirects=False) as resp:
            assert resp.status == 302 and resp.headers["Location"] == "/ui/"
        async with http.get(rd.base_url + "/ui/") as resp:
            html = await resp.text()
            assert resp.status == 200 and resp.content_type == "text/html"
            assert 'lang="pl"' in html and "Wystaw fakturę" in html and 'name="viewport"' in html
            assert "frame-ancestors 'none'" in resp.headers["Content-Security-Policy"]
            assert rd.token not in html
        for name, ctype in (("app.js", "text/javascript"), ("app.css", "text/css")):
            async with http.get(rd.base_url + "/ui/" + name) as resp:
                assert resp.status == 200 and resp.content_type == ctype, name
        for bad in ("/ui/routes.py", "/ui/..%2f__init__.py", "/ui/%2e%2e/routes.py"):
            async with http.get(rd.base_url + bad) as resp:
                assert resp.status == 404, bad
                assert "from " not in await resp.text()


async def test_receipt_downloads_need_the_token_and_match_the_printer(tmp_path: Path) -> None:
    async with in_process_daemon(tmp_path, extra_toml=printer_toml(tmp_path)) as rd, aiohttp.ClientSession() as http:
        inv = await issue_and_print(http, rd)
        sent_to_printer = (tmp_path / "printer.bin").read_bytes()
        base = rd.base_url + f"/v1/invoices/{inv['id']}"
        for suffix in ("/receipt.png", "/receipt.bin", "/upo.xml"):
            async with http.get(base + suffix) as resp:
                assert resp.status == 401, suffix
            async with http.get(base + suffix, headers={"Authorization": "Bearer wrong-token-wrong-token"}) as resp:
                assert resp.status == 401, suffix
        async with http.get(base + "/receipt.bin", headers=rd.auth) as resp:
            assert resp.status == 200
            assert await resp.read() == sent_to_printer  # the preview endpoints show what was printed
        async with http.get(base + "/receipt.png", headers=rd.auth) as resp:
            assert resp.status == 200 and resp.content_type == "image/png"
            png = Image.open(io.BytesIO(await resp.read()))
        assert sorted(r.text for r in zxingcpp.read_barcodes(png.convert("L"))) == sorted([inv["kod1_url"], inv["kod2_url"]])
        async with http.get(base + "/receipt.bin?copy=1", headers=rd.auth) as resp:
            copy = parse(await resp.read())
        assert "DUPLIKAT" in copy.text and inv["number"] in copy.text


async def test_missing_invoice_and_missing_upo_say_why(tmp_path: Path) -> None:
    async with in_process_daemon(tmp_path) as rd, aiohttp.ClientSession() as http:
        async with http.post(rd.base_url + "/v1/invoices", json=VALID_BODY,
                             headers={**rd.auth, "Idempotency-Key": "upo-1"}) as resp:
            inv = await resp.json()
        async with http.get(rd.base_url + f"/v1/invoices/{inv['id']}/upo.xml", headers=rd.auth) as resp:
            err = (await resp.json())["error"]
            assert resp.status == 404 and err["code"] == "no_upo"
            assert inv["number"] in err["message"] and "issued" in err["message"]
        for path in ("/v1/invoices/999/receipt.png", "/v1/invoices/abc/receipt.bin"):
            async with http.get(rd.base_url + path, headers=rd.auth) as resp:
                assert resp.status == 404 and (await resp.json())["error"]["code"] == "not_found"
        # no [printer] configured: the preview still works (80 mm default), so a shop without a printer sees receipts
        async with http.get(rd.base_url + f"/v1/invoices/{inv['id']}/receipt.png", headers=rd.auth) as resp:
            assert resp.status == 200
            assert Image.open(io.BytesIO(await resp.read())).width > 500


async def wait_printed(http: aiohttp.ClientSession, rd, invoice_id: int, *, tries: int = 250) -> dict:
    """The invoice JSON once its receipt is printed (polled every 20 ms, `tries` times)."""
    for _ in range(tries):
        async with http.get(rd.base_url + f"/v1/invoices/{invoice_id}", headers=rd.auth) as resp:
            inv = await resp.json()
        if inv["print_state"] == "printed":
            return inv
        await asyncio.sleep(0.02)
    raise AssertionError(f"receipt not printed: {inv}")


async def test_one_layout_for_printer_preview_and_download_of_corrections_and_copies(tmp_path: Path) -> None:
    """A correction's receipt and a reprinted copy: the printer's bytes are exactly the .bin download."""
    sink = tmp_path / "printer.bin"
    async with in_process_daemon(tmp_path, extra_toml=printer_toml(tmp_path)) as rd, aiohttp.ClientSession() as http:
        inv = await issue_and_print(http, rd, key="web-kor-1")
        async with http.post(rd.base_url + f"/v1/invoices/{inv['id']}/corrections",
                             json={"reason": "Zwrot towaru", "refund_method": "cash", "full_return": True},
                             headers={**rd.auth, "Idempotency-Key": "web-kor-2"}) as resp:
            assert resp.status == 201, await resp.text()
            kor = await resp.json()
        kor = await wait_printed(http, rd, kor["id"])
        printed_kor = sink.read_bytes()
        base = rd.base_url + f"/v1/invoices/{kor['id']}"
        async with http.get(base + "/receipt.bin", headers=rd.auth) as resp:
            assert resp.status == 200 and await resp.read() == printed_kor
        text = parse(printed_kor).text
        assert "KORYGUJ" in text and kor["number"] in text and inv["number"] in text
        async with http.get(base + "/receipt.png", headers=rd.auth) as resp:
            png = Image.open(io.BytesIO(await resp.read()))
        assert sorted(r.text for r in zxingcpp.read_barcodes(png.convert("L"))) == sorted([kor["kod1_url"], kor["kod2_url"]])
        # a reprint of the original: the copy sent to the printer is the ?copy=1 download
        async with http.post(rd.base_url + f"/v1/invoices/{inv['id']}/reprint", headers=rd.auth) as resp:
            assert resp.status == 202
        for _ in range(250):
            if sink.read_bytes() != printed_kor:
                break
            await asyncio.sleep(0.02)
        await wait_printed(http, rd, inv["id"])
        async with http.get(rd.base_url + f"/v1/invoices/{inv['id']}/receipt.bin?copy=1", headers=rd.auth) as resp:
            assert await resp.read() == sink.read_bytes()
        assert "DUPLIKAT" in parse(sink.read_bytes()).text
