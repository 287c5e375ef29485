"""The one-command demo end to end: real `ksef-sim` + real `ksef-edge run` subprocesses on 127.0.0.1.

Checks what a new user gets in the output folder against independent references: the official FA(3)
XSD, SHA-256 of the file bytes, the QR codes read back from the printer bytes and the PNG by a QR
decoder, the KOD II signature against certificate.pem, and KSeF number syntax (CRC-8).
"""
from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import socket
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
import zxingcpp
from cryptography import x509
from lxml import etree
from PIL import Image

from escpos_reader import parse
from ksef_edge.domain.fa3 import validate_fa3
from ksef_edge.domain.ksef_number import validate_ksef_number
from ksef_edge.domain.qr import verify_kod2_url

REPO = Path(__file__).resolve().parents[1]
SELLER_NIP = "5265877635"
FA = "{http://crd.gov.pl/wzor/2025/06/25/13775/}"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def qr_texts(img: Image.Image) -> list[str]:
    return [r.text for r in zxingcpp.read_barcodes(img.convert("L"))]


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    out = tmp_path_factory.mktemp("demo") / "demo-out"
    env = {k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET", "WATCHDOG_USEC")}
    proc = subprocess.run([sys.executable, "-m", "ksef_demo", "--out", str(out)], capture_output=True,
                          text=True, timeout=120, cwd=REPO, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out, proc


@pytest.mark.timeout(150)
def test_output_folder_is_complete_and_matches_summary(demo_run) -> None:
    out, proc = demo_run
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    rows = summary["invoices"]
    assert len(rows) >= 4
    assert (out / "certificate.pem").is_file()
    for row in rows:
        for key in ("id", "number", "sha256", "kod1_url", "kod2_url", "state", "ksef_number", "deadline"):
            assert key in row, key
        xml = (out / "invoices" / f"{row['id']}.xml").read_bytes()
        assert (out / "receipts" / f"{row['id']}.bin").stat().st_size > 200
        assert (out / "receipts" / f"{row['id']}.png").read_bytes().startswith(b"\x89PNG")
        validate_fa3(xml)  # the official FA(3) XSD
        assert base64.b64encode(hashlib.sha256(xml).digest()).decode() == row["sha256"]
        root = etree.fromstring(xml)
        assert root.findtext(f"{FA}Fa/{FA}P_2") == row["number"]
        assert Decimal(root.findtext(f"{FA}Fa/{FA}P_15")) == Decimal(row["total"])
        issue_date = root.findtext(f"{FA}Fa/{FA}P_1")  # YYYY-MM-DD
        d = issue_date.split("-")
        # KOD I per protocol: /invoice/{seller NIP}/{DD-MM-YYYY}/{SHA-256 of the exact bytes, base64url}
        assert row["kod1_url"] == (f"https://qr-test.ksef.mf.gov.pl/invoice/{SELLER_NIP}/{d[2]}-{d[1]}-{d[0]}/"
                                   f"{b64url(hashlib.sha256(xml).digest())}")
        assert row["deadline"] >= issue_date
    # the summary table on the console shows every invoice with its total, state and KSeF number
    for row in rows:
        assert re.search(rf"{re.escape(row['number'])}\s+{re.escape(row['total'])} PLN\s+{row['state']}", proc.stdout)


@pytest.mark.timeout(150)
def test_uplink_sent_everything_to_the_simulator(demo_run) -> None:
    out, proc = demo_run
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["uplink_running"] is True, "the daemon did not start its uplink"
    for row in summary["invoices"]:
        assert row["state"] == "confirmed" and row["upo_available"], row
        number = validate_ksef_number(row["ksef_number"])  # format + CRC-8
        assert number.startswith(SELLER_NIP + "-")
        assert row["ksef_number"] in proc.stdout


@pytest.mark.timeout(150)
def test_receipts_carry_the_links_and_kod2_verifies_with_the_certificate(demo_run) -> None:
    out, _ = demo_run
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    cert = x509.load_pem_x509_certificate((out / "certificate.pem").read_bytes())
    serial = format(cert.serial_number, "X").zfill(16)
    for row in summary["invoices"]:
        links = [row["kod1_url"], row["kod2_url"]]
        printed = parse((out / "receipts" / f"{row['id']}.bin").read_bytes())
        from_printer = printed.qr_payloads + [t for img in printed.rasters for t in qr_texts(img)]
        assert from_printer == links, "the QR codes sent to the printer are not KOD I then KOD II"
        assert row["number"] in printed.text
        assert row["total"].replace(".", ",") in printed.text
        with Image.open(out / "receipts" / f"{row['id']}.png") as png:
            assert sorted(qr_texts(png)) == sorted(links)
        assert f"/{serial}/" in row["kod2_url"]
        assert verify_kod2_url(row["kod2_url"], cert.public_key())


@pytest.mark.timeout(150)
def test_realistic_invoice_mix(demo_run) -> None:
    out, _ = demo_run
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    rates: set[str] = set()
    buyers_with_nip = 0
    longest_name = 0
    for row in summary["invoices"]:
        root = etree.fromstring((out / "invoices" / f"{row['id']}.xml").read_bytes())
        rates |= {e.text for e in root.iter(f"{FA}P_12")}
        buyers_with_nip += root.find(f"{FA}Podmiot2/{FA}DaneIdentyfikacyjne/{FA}NIP") is not None
        longest_name = max([longest_name, *(len(e.text) for e in root.iter(f"{FA}P_7"))])
    assert {"23", "8", "5", "0 KR", "oo", "zw"} <= rates, rates
    assert 0 < buyers_with_nip < len(summary["invoices"])  # B2B and B2C
    assert longest_name > 100
    assert summary["skipped"] == []  # every demo sale, the exempt one with its P_19A basis too, was issued
    exempt = [etree.fromstring((out / "invoices" / f"{r['id']}.xml").read_bytes()) for r in summary["invoices"]]
    bases = [x.findtext(f"{FA}Fa/{FA}Adnotacje/{FA}Zwolnienie/{FA}P_19A") for x in exempt]
    assert [b for b in bases if b] == ["art. 43 ust. 1 pkt 29 lit. c ustawy o VAT"]


@pytest.mark.timeout(150)
def test_everything_stopped_and_no_secrets_left(demo_run) -> None:
    out, proc = demo_run
    ports = [int(p) for p in re.findall(r"on 127\.0\.0\.1:(\d+)", proc.stdout)]
    assert len(ports) == 2
    for port in ports:
        with socket.socket() as s:
            assert s.connect_ex(("127.0.0.1", port)) != 0, f"port {port} is still listening after the demo"
    assert "stopped" in proc.stdout.splitlines()[-1]
    for path in out.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert b"PRIVATE KEY" not in data, path
            assert b"|nip-" not in data, f"{path} contains the KSeF token"
    assert "|nip-" not in proc.stdout + proc.stderr


@pytest.mark.timeout(150)
def test_a_return_is_a_correction_of_the_first_sale_uploaded_after_it(demo_run) -> None:
    out, proc = demo_run
    rows = json.loads((out / "summary.json").read_text(encoding="utf-8"))["invoices"]
    first, kor = rows[0], rows[-1]
    assert kor["kind"] == "KOR" and kor["corrects_id"] == first["id"], kor
    assert re.fullmatch(r"KOR/DEMO1/\d{4}/\d{2}/\d{6}", kor["number"])
    # one pastry back (4.50 gross at 5 %): the correction's amounts are the differences
    assert (kor["total"], kor["net"], kor["vat"]) == ("-4.50", "-4.29", "-0.21")
    assert kor["state"] == "confirmed"
    fa = etree.fromstring((out / "invoices" / f"{kor['id']}.xml").read_bytes()).find(f"{FA}Fa")
    assert fa.findtext(f"{FA}RodzajFaktury") == "KOR"
    assert fa.findtext(f"{FA}DaneFaKorygowanej/{FA}NrFaKorygowanej") == first["number"]
    # issued after KSeF accepted the original, so the correction quotes its KSeF number
    assert fa.findtext(f"{FA}DaneFaKorygowanej/{FA}NrKSeFFaKorygowanej") == first["ksef_number"]
    printed = parse((out / "receipts" / f"{kor['id']}.bin").read_bytes()).text
    assert "KORYGUJ" in printed and first["number"] in printed and "4,50" in printed
