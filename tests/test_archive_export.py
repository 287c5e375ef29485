"""Archive export from a real outbox: exact bytes, UPOs, index totals read from the XML."""
from __future__ import annotations

import csv
import datetime as dt
import hashlib
import json
import sqlite3

import pytest

from archive_helpers import OFFICIAL, cli_inproc, confirm, issue, store_raw
from ksef_edge.archive import ExportError, export_archive
from ksef_edge.domain.fa3 import validate_fa3, validate_upo
from ksef_edge.domain.qr import sha256_b64url

JAN = dt.date(2026, 1, 15)
FEB = dt.date(2026, 2, 10)
MAR = dt.date(2026, 3, 2)


async def test_export_writes_exact_bytes_upos_and_an_index_matching_the_invoices(tmp_path, device, ec_signer):
    jan = await issue(device, ec_signer, issue_date=JAN, price="100.00")
    feb = [await issue(device, ec_signer, issue_date=FEB, price=p) for p in ("12.30", "7.99")]
    consumer = await issue(device, ec_signer, issue_date=FEB, buyer=None)
    official = await store_raw(device, (OFFICIAL / "invoice.xml").read_bytes(), "FA/YUCFO-4342344706/03/2026", FEB)
    mar = await issue(device, ec_signer, issue_date=MAR)
    await confirm(device, feb[0])
    out = tmp_path / "archive-2026-02"

    result = export_archive(device.path, out, date_from=dt.date(2026, 2, 1), date_to=dt.date(2026, 2, 28))

    exported = [*feb, consumer, official]
    assert result.invoices == 4 and result.with_upo == 1
    index = json.loads((out / "index.json").read_text(encoding="utf-8"))
    with (out / "index.csv").open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    assert rows == index["invoices"] and len(rows) == 4
    by_number = {r["number"]: r for r in rows}
    for invoice_id in exported:
        rec = await device.get(invoice_id)
        row = by_number[rec.number]
        data = (out / row["xml_file"]).read_bytes()
        assert data == await device.get_xml(invoice_id)
        assert hashlib.sha256(data).digest() == rec.sha256 and row["sha256_hex"] == rec.sha256.hex()
        if rec.kod1_url:  # the hash printed in KOD I on the receipt matches the archived file
            assert rec.kod1_url.endswith("/" + sha256_b64url(data))
        validate_fa3(data)
        assert row["state"] == rec.state.value and row["issue_date"] == "2026-02-10"
    assert (await device.get(jan)).number not in by_number and (await device.get(mar)).number not in by_number

    # totals read from the official MF sample invoice (P_13_1, P_14_1, P_15 in tests/fixtures/official/invoice.xml)
    sample = by_number["FA/YUCFO-4342344706/03/2026"]
    assert (sample["buyer_nip"], sample["net"], sample["vat"], sample["gross"]) == (
        "6808208874", "27292.28", "6277.22", "33569.50")
    # our own invoice: 12.30 gross at 23% + 2 x 3.50 gross at 5% -> net 10.00 + 6.67, VAT 2.30 + 0.33
    first = by_number[(await device.get(feb[0])).number]
    assert (first["buyer_nip"], first["net"], first["vat"], first["gross"]) == ("6808208874", "16.67", "2.63", "19.30")
    assert by_number[(await device.get(consumer)).number]["buyer_nip"] == ""
    assert first["ksef_number"] and first["state"] == "confirmed"
    upo = (out / first["upo_file"]).read_bytes()
    assert upo == (OFFICIAL / "upo.xml").read_bytes()
    validate_upo(upo)
    assert index["totals"]["gross"] == f"{sum(float(r['gross']) for r in rows):.2f}"


async def test_export_is_recorded_for_retention_with_the_hash_written(tmp_path, device, ec_signer):
    a = await issue(device, ec_signer, issue_date=FEB)
    b = await issue(device, ec_signer, issue_date=FEB)
    await confirm(device, a)
    export_archive(device.path, tmp_path / "x", date_from=FEB, date_to=FEB)
    con = sqlite3.connect(device.path)
    marks = {r[0]: (bytes(r[1]), r[2]) for r in con.execute("SELECT invoice_id, sha256, with_upo FROM archive_exports")}
    con.close()
    assert marks == {a: ((await device.get(a)).sha256, 1), b: ((await device.get(b)).sha256, 0)}


async def test_a_stored_invoice_that_no_longer_matches_its_hash_stops_the_export(tmp_path, device, ec_signer):
    good = await issue(device, ec_signer, issue_date=FEB)
    bad = await issue(device, ec_signer, issue_date=FEB)
    number = (await device.get(bad)).number
    con = sqlite3.connect(device.path)
    xml = bytes(con.execute("SELECT xml FROM invoices WHERE id = ?", (bad,)).fetchone()[0])
    assert b">12.30<" in xml
    con.execute("UPDATE invoices SET xml = ? WHERE id = ?", (xml.replace(b">12.30<", b">12.31<", 1), bad))
    con.commit()
    con.close()
    with pytest.raises(ExportError, match=f"invoice {number} .*does not match the hash recorded at issuance"):
        export_archive(device.path, tmp_path / "x", date_from=FEB, date_to=FEB)
    con = sqlite3.connect(device.path)
    assert con.execute("SELECT COUNT(*) FROM archive_exports").fetchone()[0] == 0
    con.close()
    assert good  # nothing was recorded as archived


async def test_export_refuses_a_non_empty_directory_and_a_reversed_range(tmp_path, device, ec_signer):
    await issue(device, ec_signer, issue_date=FEB)
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "something.txt").write_text("x")
    with pytest.raises(ExportError, match="not an empty directory"):
        export_archive(device.path, busy, date_from=FEB, date_to=FEB)
    with pytest.raises(ExportError, match="before --from"):
        export_archive(device.path, tmp_path / "y", date_from=MAR, date_to=FEB)


async def test_cli_export(tmp_path, device, ec_signer, capsys):
    await issue(device, ec_signer, issue_date=FEB)
    res = cli_inproc(capsys, "export", "--from", "2026-02-01", "--to", "2026-02-28", str(tmp_path / "a"), "--db", str(device.path))
    assert res.returncode == 0 and "exported 1 invoice(s)" in res.stdout, res.stderr
    assert (tmp_path / "a" / "index.csv").exists() and len(list((tmp_path / "a" / "invoices").iterdir())) == 1
    missing = cli_inproc(capsys, "export", "--from", "2026-02-01", "--to", "2026-02-28", str(tmp_path / "b"),
                         "--db", str(tmp_path / "nope.sqlite3"))
    assert missing.returncode == 1 and "does not exist" in missing.stderr
    assert not (tmp_path / "nope.sqlite3").exists()
