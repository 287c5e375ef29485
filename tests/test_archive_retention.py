"""Retention on a real outbox: only confirmed + archived + old invoices go; numbers are never reused."""
from __future__ import annotations

import datetime as dt
import sqlite3

from archive_helpers import cli_inproc, confirm, issue
from ksef_edge.archive import export_archive, prune_archived
from ksef_edge.store import InvoiceState, OutboxStore

OLD = dt.date(2025, 1, 10)
TODAY = dt.date(2026, 6, 1)


def _numbers(db) -> set[str]:
    con = sqlite3.connect(db)
    try:
        return {r[0] for r in con.execute("SELECT number FROM invoices")}
    finally:
        con.close()


async def test_only_confirmed_archived_old_invoices_are_pruned_and_numbering_continues(tmp_path, device, ec_signer):
    ids: dict[str, int] = {}
    ids["done1"] = await issue(device, ec_signer, issue_date=OLD)
    ids["done2"] = await issue(device, ec_signer, issue_date=OLD)
    ids["unsent"] = await issue(device, ec_signer, issue_date=OLD)  # exported, never sent
    ids["exported_before_upo"] = await issue(device, ec_signer, issue_date=OLD)  # archive lacks the UPO
    ids["sending"] = await issue(device, ec_signer, issue_date=OLD)
    ids["recent"] = await issue(device, ec_signer, issue_date=TODAY - dt.timedelta(days=10))
    other_series = await issue(device, ec_signer, series="FV/KASA2", issue_date=OLD)
    for name in ("done1", "done2", "recent"):
        await confirm(device, ids[name])
    await confirm(device, other_series)
    await device.mark_sending(ids["sending"], "20251031-SO-0000000000-000000000000-00")
    # the accountant's export: everything so far
    export_archive(device.path, tmp_path / "archive", date_from=dt.date(2025, 1, 1), date_to=TODAY)
    await confirm(device, ids["exported_before_upo"])
    ids["not_exported"] = await issue(device, ec_signer, issue_date=OLD)  # issued after the export
    await confirm(device, ids["not_exported"])
    # eligible in every way, but it is the newest of its series: it holds the numbering position
    ids["newest_of_series"] = await issue(device, ec_signer, issue_date=OLD + dt.timedelta(days=1))
    await confirm(device, ids["newest_of_series"])
    export_archive(device.path, tmp_path / "archive2", date_from=OLD + dt.timedelta(days=1),
                   date_to=OLD + dt.timedelta(days=1))
    before = _numbers(device.path)
    number = {name: await _number(device, i) for name, i in ids.items()}

    dry = prune_archived(device.path, older_than_days=365, today=TODAY, dry_run=True)
    assert _numbers(device.path) == before
    result = prune_archived(device.path, older_than_days=365, today=TODAY)
    assert result.pruned == dry.pruned
    assert prune_archived(device.path, older_than_days=365, today=TODAY).pruned == []  # nothing more to do
    pruned = {number["done1"], number["done2"]}
    assert set(result.pruned) == pruned
    assert _numbers(device.path) == before - pruned
    for name in ("unsent", "exported_before_upo", "not_exported", "sending", "recent", "newest_of_series"):
        assert number[name] in _numbers(device.path), name
    assert (await device.get(ids["unsent"])).state is InvoiceState.ISSUED
    assert (await device.get(other_series)).number in _numbers(device.path)  # last of its series

    # numbers continue after the pruned ones, in every series, with no reuse of ids or numbers
    next_a = await device.get(await issue(device, ec_signer))
    next_b = await device.get(await issue(device, ec_signer, series="FV/KASA2"))
    assert next_a.seq == 9 and next_b.seq == 2
    assert next_a.id == 10 and next_a.number not in before



async def _number(store: OutboxStore, invoice_id: int) -> str:
    return (await store.get(invoice_id)).number


async def test_pruning_everything_eligible_still_keeps_the_numbering_position(tmp_path, device, ec_signer):
    ids = [await issue(device, ec_signer, issue_date=OLD) for _ in range(3)]
    for i in ids:
        await confirm(device, i)
    export_archive(device.path, tmp_path / "a", date_from=OLD, date_to=OLD)
    result = prune_archived(device.path, older_than_days=30, today=TODAY)
    assert len(result.pruned) == 2
    nxt = await device.get(await issue(device, ec_signer))
    assert nxt.seq == 4 and nxt.id == 4


async def test_cli_prune_requires_an_age_and_lists_what_it_deletes(tmp_path, device, ec_signer, capsys):
    ids = [await issue(device, ec_signer, issue_date=OLD) for _ in range(2)]
    for i in ids:
        await confirm(device, i)
    export_archive(device.path, tmp_path / "a", date_from=OLD, date_to=OLD)
    no_age = cli_inproc(capsys, "prune", "--db", str(device.path))
    assert no_age.returncode == 2 and "--older-than-days" in no_age.stderr
    dry = cli_inproc(capsys, "prune", "--db", str(device.path), "--older-than-days", "30", "--dry-run")
    assert dry.returncode == 0 and "would delete 1" in dry.stdout and (await _number(device, ids[0])) in dry.stdout
    done = cli_inproc(capsys, "prune", "--db", str(device.path), "--older-than-days", "30")
    assert done.returncode == 0 and "deleted 1" in done.stdout


async def test_an_invoice_a_stored_correction_refers_to_is_kept(tmp_path, device, ec_signer):
    ids = [await issue(device, ec_signer, issue_date=OLD) for _ in range(4)]
    for i in ids:
        await confirm(device, i)
    export_archive(device.path, tmp_path / "a", date_from=OLD, date_to=OLD)
    con = sqlite3.connect(device.path)
    con.execute("UPDATE invoices SET corrects_id = ? WHERE id = ?", (ids[0], ids[3]))  # #4 corrects #1
    con.commit()
    con.close()
    expected = sorted([await _number(device, ids[1]), await _number(device, ids[2])])
    result = prune_archived(device.path, older_than_days=30, today=TODAY)
    assert sorted(result.pruned) == expected


async def test_an_original_whose_correction_still_waits_for_upload_is_never_pruned(tmp_path, device, ec_signer):
    ids = [await issue(device, ec_signer, issue_date=OLD) for _ in range(3)]
    for i in ids:
        await confirm(device, i)
    kor = await issue(device, ec_signer, series="KOR/KASA1", issue_date=OLD)  # stays 'issued': not yet in KSeF
    export_archive(device.path, tmp_path / "a", date_from=OLD, date_to=OLD)
    con = sqlite3.connect(device.path)
    con.execute("UPDATE invoices SET corrects_id = ?, kind = 'KOR' WHERE id = ?", (ids[0], kor))
    con.commit()
    con.close()
    waiting = await _number(device, ids[0])
    result = prune_archived(device.path, older_than_days=30, today=TODAY)
    assert waiting not in result.pruned and waiting in _numbers(device.path)
    assert (await device.get(kor)).state is InvoiceState.ISSUED and (await device.get(ids[0])).corrects_id is None


async def test_an_invoice_with_a_technical_correction_is_exported_with_ksefs_file_and_kept(tmp_path, device, ec_signer):
    ids = [await issue(device, ec_signer, issue_date=OLD) for _ in range(3)]
    await confirm(device, ids[1])
    await confirm(device, ids[2])
    original = await device.get_xml(ids[0])
    await device.mark_sending(ids[0], "20251031-SO-0000000000-000000000000-00")
    await device.mark_rejected(ids[0], "430", "schema")
    fixed = original + b"\n"  # a different file (other bytes) of the same sale
    await device.record_correction(ids[0], xml=fixed, ksef_number="5265877635-20250110-0100001AF629-AF",
                                   upo=b"<Potwierdzenie/>", session_ref="s", invoice_ref="i")
    out = tmp_path / "a"
    result = export_archive(device.path, out, date_from=OLD, date_to=OLD)
    number = await _number(device, ids[0])
    row = next(r for r in result.rows if r["number"] == number)
    assert (out / row["xml_file"]).read_bytes() == original  # what the customer's KOD I points at
    assert (out / row["ksef_xml_file"]).read_bytes() == fixed  # what KSeF holds under the KSeF number
    pruned = prune_archived(device.path, older_than_days=30, today=TODAY).pruned
    assert row["number"] not in pruned and await device.technical_correction(ids[0]) is not None
