"""A technically corrected invoice (KSeF rejected the till's file, accepted a corrected one in its place):
the invoice JSON shows the correction, `/xml` keeps the original bytes, `/corrected.xml` serves the new
file, and a reprint lays out the corrected document with its own KOD I / KOD II and the KSeF number.

Real in-process daemon, real SQLite outbox (a second store connection plays the uplink and `ksef-edge
correct`, as they run on their own connections), real FA(3) bytes signed with the daemon's key, real
file printer through the print queue.
"""
from __future__ import annotations

import asyncio
import base64
import datetime as dt
import hashlib
from pathlib import Path

import aiohttp

from daemon_fixtures import VALID_BODY, in_process_daemon
from domain_factories import SELLER, invoice, line
from ksef_edge.domain.deadlines import OfflineMode
from ksef_edge.domain.issuance import issue_document
from ksef_edge.domain.qr import QrEnvironment, sha256_b64url, verify_kod2_url
from ksef_edge.store import OutboxStore

KSEF_NUMBER = "5265877635-20260302-0100001AF629-AF"


async def reject_and_correct(d, invoice_id: int):
    """What the uplink (rejection) and `ksef-edge correct` (accepted correction) write, on their own connection."""
    store = await OutboxStore.open(d.files.db)
    try:
        rec = await store.get(invoice_id)
        await store.mark_sending(invoice_id, "20260302-SO-1")
        await store.mark_rejected(invoice_id, "430", "Błąd weryfikacji pliku faktury")
        fixed = issue_document(invoice(line(price="1.99"), number=rec.number, issue_date=rec.issue_date,
                                       created_at=dt.datetime.now(dt.timezone.utc), seller=SELLER),
                               d.signer, env=QrEnvironment.TEST, mode=OfflineMode.OFFLINE24)
        await store.record_correction(invoice_id, xml=fixed.xml, ksef_number=KSEF_NUMBER, upo=b"<Potwierdzenie/>",
                                      session_ref="20260302-SO-2", invoice_ref="20260302-EE-3",
                                      kod1_url=fixed.kod1_url, kod2_url=fixed.kod2_url, cert_serial=fixed.cert_serial)
        return fixed
    finally:
        await store.close()


async def issue(http, d, key: str) -> dict:
    async with http.post(d.base_url + "/v1/invoices", json=VALID_BODY, headers={**d.auth, "Idempotency-Key": key}) as r:
        assert r.status == 201, await r.text()
        return await r.json()


async def get_bytes(http, d, path: str) -> tuple[int, bytes]:
    async with http.get(d.base_url + path, headers=d.auth) as r:
        return r.status, await r.read()


async def test_invoice_json_and_downloads_show_the_correction_and_keep_the_original(tmp_path: Path) -> None:
    async with in_process_daemon(tmp_path) as d, aiohttp.ClientSession() as http:
        inv, plain = await issue(http, d, "tc-1"), await issue(http, d, "tc-2")
        _, original_xml = await get_bytes(http, d, f"/v1/invoices/{inv['id']}/xml")
        fixed = await reject_and_correct(d, inv["id"])

        async with http.get(d.base_url + f"/v1/invoices/{inv['id']}", headers=d.auth) as r:
            body = await r.json()
        assert body["sha256"] == inv["sha256"] and body["kod1_url"] == inv["kod1_url"]  # the till's document
        assert body["state"] == "confirmed" and body["ksef_number"] == KSEF_NUMBER
        tc = body["technical_correction"]
        assert tc["sha256"] == base64.b64encode(hashlib.sha256(fixed.xml).digest()).decode() == fixed.sha256_b64
        assert tc["ksef_number"] == KSEF_NUMBER and tc["state"] == "confirmed" and tc["upo_available"] is True
        assert tc["kod1_url"] == fixed.kod1_url and tc["kod1_url"].endswith("/" + sha256_b64url(fixed.xml))
        assert verify_kod2_url(tc["kod2_url"], d.signer.public_key)
        assert tc["corrects_rejection"] == {"code": "430", "reason": "Błąd weryfikacji pliku faktury"}
        assert tc["xml"] == f"/v1/invoices/{inv['id']}/corrected.xml"

        assert await get_bytes(http, d, f"/v1/invoices/{inv['id']}/xml") == (200, original_xml)
        assert await get_bytes(http, d, tc["xml"]) == (200, fixed.xml)

        # an invoice without a correction: null in the JSON (lists too), a 404 that says where its file is
        async with http.get(d.base_url + "/v1/invoices?order=desc", headers=d.auth) as r:
            listed = {i["id"]: i["technical_correction"] for i in (await r.json())["items"]}
        assert listed[plain["id"]] is None and listed[inv["id"]]["ksef_number"] == KSEF_NUMBER
        async with http.get(d.base_url + f"/v1/invoices/{plain['id']}/corrected.xml", headers=d.auth) as r:
            err = (await r.json())["error"]
            assert r.status == 404 and err["code"] == "no_technical_correction"
        assert f"/v1/invoices/{plain['id']}/xml" in err["message"]


async def test_reprint_of_a_corrected_invoice_prints_the_corrected_document(tmp_path: Path) -> None:
    sink = tmp_path / "printer.bin"
    printer = f'[printer]\nconnection = "file"\nfile_path = "{sink}"\npaper = "80mm"\n'
    async with in_process_daemon(tmp_path, extra_toml=printer) as d, aiohttp.ClientSession() as http:
        inv = await issue(http, d, "tc-p")
        fixed = await reject_and_correct(d, inv["id"])

        _, first = await get_bytes(http, d, f"/v1/invoices/{inv['id']}/receipt.bin")  # the receipt handed over
        assert inv["kod1_url"].encode() in first and fixed.kod1_url.encode() not in first

        for _ in range(100):  # the first print of the issue has finished
            if sink.exists() and inv["number"].encode() in sink.read_bytes():
                break
            await asyncio.sleep(0.05)
        async with http.post(d.base_url + f"/v1/invoices/{inv['id']}/reprint", headers=d.auth) as r:
            assert r.status == 202
        for _ in range(200):  # the file sink holds the latest receipt: the copy, once it shows the KSeF number
            copy = sink.read_bytes()
            if KSEF_NUMBER.encode() in copy:
                break
            await asyncio.sleep(0.05)
        assert fixed.kod1_url.encode() in copy and fixed.kod2_url.encode() in copy  # the corrected document's codes
        assert inv["kod1_url"].encode() not in copy
        assert copy.index(KSEF_NUMBER.encode()) > copy.index(fixed.kod1_url.encode())  # KSeF number labels KOD I
        assert b"DUPLIKAT" in copy and b"OFFLINE" not in copy
        _, preview = await get_bytes(http, d, f"/v1/invoices/{inv['id']}/receipt.bin?copy=1")
        assert fixed.kod1_url.encode() in preview and KSEF_NUMBER.encode() in preview  # one layout for both
