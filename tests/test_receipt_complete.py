"""The printed invoice shows what a Polish invoice shows: buyer's address, date and time of issue, the legal
basis of a zw exemption, "odwrotne obciążenie" in words, totals per rate and a net / VAT / gross row, payment
(58 and 80 mm). Read back from the ESC/POS bytes the printer gets; previews kept in tests/artifacts/."""
from __future__ import annotations

import re
from pathlib import Path

import aiohttp
import pytest

from daemon_fixtures import BUYER_NIP, in_process_daemon
from escpos_reader import parse

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
BODY = {
    "buyer": {"nip": BUYER_NIP, "name": "Hurtownia Stali Sp. z o.o.", "address": "ul. Hutnicza 7, 40-001 Katowice"},
    "lines": [
        {"name": "Pręt stalowy fi 12", "quantity": "100", "unit": "kg", "unit_price_gross": "4.20", "vat_rate": "oo"},
        {"name": "Szkolenie BHP", "quantity": "1", "unit": "h", "unit_price_gross": "300.00", "vat_rate": "zw"},
        {"name": "Rękawice robocze", "quantity": "2", "unit": "para", "unit_price_gross": "12.30", "vat_rate": "23"},
    ],
    "exemption_basis": "art. 43 ust. 1 pkt 29 lit. c ustawy o VAT",
    "payment": {"method": "transfer"},
}


@pytest.mark.parametrize("paper", ["58mm", "80mm"])
async def test_complete_printed_invoice(tmp_path, paper):
    toml = f'[printer]\nconnection = "file"\nfile_path = "{tmp_path / "sink.bin"}"\npaper = "{paper}"\n'
    async with in_process_daemon(tmp_path, extra_toml=toml) as d, aiohttp.ClientSession() as http:
        async with http.post(d.base_url + "/v1/invoices", json=BODY, headers={**d.auth, "Idempotency-Key": "c-" + paper}) as r:
            assert r.status == 201, await r.text()
            inv = await r.json()
        async with http.get(d.base_url + f"/v1/invoices/{inv['id']}/receipt.bin", headers=d.auth) as r:
            raw = await r.read()
        async with http.get(d.base_url + f"/v1/invoices/{inv['id']}/receipt.png", headers=d.auth) as r:
            ARTIFACTS.mkdir(exist_ok=True)
            (ARTIFACTS / ".gitignore").write_text("*\n")
            (ARTIFACTS / f"receipt-complete-{paper}.png").write_bytes(await r.read())
    parsed = parse(raw)
    lines = [t.text for t in parsed.lines]
    flat = " ".join(parsed.text.split())
    width = 32 if paper == "58mm" else 42
    assert "ul. Hutnicza 7, 40-001" in flat and "Katowice" in flat  # buyer's address
    local = inv["created_at"]
    assert re.search(r"Data wystawienia: +\d{4}-\d{2}-\d{2} \d{2}:\d{2}", flat), flat  # date and time
    assert "odwrotne obciążenie" in flat
    assert "art. 43 ust. 1 pkt 29 lit. c" in flat and "zwolnienie" in flat
    # per rate, then net / VAT / gross: 23 % 20,00 + 4,60 = 24,60; zw 300,00; oo 420,00
    assert re.search(r"23% 20,00 4,60 24,60 zw 300,00 0,00 300,00 oo 420,00 0,00 420,00 Razem 740,00 4,60 744,60", flat) or \
        re.search(r"Razem Netto 740,00 VAT 4,60 Brutto 744,60", flat), flat
    assert re.search(r"DO ZAPŁATY 744,60 PLN", flat) and re.search(r"Płatność: przelew", flat)
    assert local
    assert all(len(line) <= width for line in lines), [x for x in lines if len(x) > width]
