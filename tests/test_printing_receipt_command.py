"""`ksef-edge receipt ID`: PNG and ESC/POS of a stored invoice, read from a real outbox database."""
from __future__ import annotations

import datetime as dt
import hashlib

import zxingcpp
from PIL import Image

from escpos_reader import parse
from ksef_edge.cli import main as cli
from ksef_edge.domain.issuance import issue_document
from ksef_edge.domain.qr import QrEnvironment
from ksef_edge.store import NewInvoice, OutboxStore
from printing_fixtures import KSEF_NUMBER, till_invoice


async def store_one_invoice(db, signer) -> tuple[int, str, str]:
    store = await OutboxStore.open(db)
    links = {}

    def build(seq: int, created: dt.datetime) -> NewInvoice:
        inv = till_invoice()
        doc = issue_document(inv, signer, env=QrEnvironment.TEST)
        links["k1"], links["k2"] = doc.kod1_url, doc.kod2_url
        return NewInvoice(number=inv.number, xml=doc.xml, sha256=hashlib.sha256(doc.xml).digest(),
                          issue_date=inv.issue_date, kod1_url=doc.kod1_url, kod2_url=doc.kod2_url,
                          cert_serial=doc.cert_serial, offline_mode=doc.mode.value, deadline=doc.deadline)

    try:
        rec, _ = await store.issue(series="FV", created_at=dt.datetime.now(dt.timezone.utc),
                                   idempotency_key="k-1", request_hash="h-1", build=build)
        return rec.id, links["k1"], links["k2"]
    finally:
        await store.close()


async def test_receipt_command_writes_png_and_escpos(tmp_path, ec_signer, capsys):
    db = tmp_path / "outbox.sqlite"
    invoice_id, k1, k2 = await store_one_invoice(db, ec_signer)
    png, raw = tmp_path / "r.png", tmp_path / "r.bin"
    rc = cli(["receipt", str(invoice_id), "--db", str(db), "--png", str(png), "--escpos", str(raw), "--paper", "58mm"])
    assert rc == 0, capsys.readouterr()
    assert {c.text for c in zxingcpp.read_barcodes(Image.open(png))} == {k1, k2}
    parsed = parse(raw.read_bytes())
    assert parsed.qr_payloads == [k1, k2]
    assert "ĄĆĘŁŃÓŚŹŻ" in parsed.text and "OFFLINE" in parsed.text and "DUPLIKAT" not in parsed.text


async def test_reprint_after_upload_by_number_shows_the_ksef_number(tmp_path, ec_signer, capsys):
    db = tmp_path / "outbox.sqlite"
    invoice_id, k1, k2 = await store_one_invoice(db, ec_signer)
    store = await OutboxStore.open(db)
    try:
        await store.mark_sending(invoice_id, "20250826-SO-0000000000-0000000000-00")
        await store.mark_accepted(invoice_id, KSEF_NUMBER)
    finally:
        await store.close()
    raw = tmp_path / "r.bin"
    assert cli(["receipt", "FV/2026/02/000123", "--db", str(db), "--escpos", str(raw), "--copy"]) == 0
    lines = [line.text for line in parse(raw.read_bytes()).lines]
    assert KSEF_NUMBER in lines and "OFFLINE" not in lines and lines.count("DUPLIKAT") == 2


def test_unknown_invoice_is_a_clear_error(tmp_path, capsys):
    assert cli(["receipt", "42", "--db", str(tmp_path / "none.sqlite"), "--png", str(tmp_path / "x.png")]) == 1
    assert "does not exist" in capsys.readouterr().err
