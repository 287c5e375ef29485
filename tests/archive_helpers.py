"""Helpers for tests/test_archive_*.py: invoices issued through the real domain pipeline into a real
outbox file, KSeF confirmation through the store's real transitions (official UPO bytes), and the
`ksef-edge` CLI as a subprocess."""
from __future__ import annotations

import datetime as dt
import hashlib
import os
import subprocess
import sys
from pathlib import Path
from typing import AsyncIterator

import pytest

from domain_factories import BUYER_B2B, SELLER, invoice, line
from ksef_edge.domain.deadlines import OfflineMode
from ksef_edge.domain.issuance import issue_document
from ksef_edge.domain.ksef_number import make_ksef_number
from ksef_edge.domain.qr import QrEnvironment
from ksef_edge.store import NewInvoice, OutboxStore

ROOT = Path(__file__).resolve().parent.parent
OFFICIAL = ROOT / "tests" / "fixtures" / "official"
KSEF_EDGE = str(Path(sys.executable).with_name("ksef-edge"))
PASSPHRASE = b"correct horse battery staple 42"


@pytest.fixture
async def device(tmp_path: Path) -> AsyncIterator[OutboxStore]:
    """The outbox of a device of this test's own (tmp_path/dev/outbox.sqlite3)."""
    store = await OutboxStore.open(tmp_path / "dev" / "outbox.sqlite3")
    yield store
    await store.close()


def passphrase_file(dir: Path, secret: bytes = PASSPHRASE, name: str = "backup-passphrase") -> Path:
    path = dir / name
    path.write_bytes(secret + b"\n")
    os.chmod(path, 0o600)
    return path


async def issue(store: OutboxStore, signer, *, series: str = "FV/KASA1", issue_date: dt.date | None = None,
                buyer=BUYER_B2B, key: str | None = None, price: str = "12.30", rate: str = "23") -> int:
    """One invoice through issue_document (FA(3) + hash + KOD I/II) and OutboxStore.issue; returns its id."""
    issue_date = issue_date or dt.date.today()
    now = dt.datetime.now(dt.timezone.utc)

    def build(seq: int, created: dt.datetime) -> NewInvoice:
        inv = invoice(line(price=price, rate=rate), line("Rogal", "2", "3.50", "5"), number=f"{series}/{seq:06d}",
                      issue_date=issue_date, created_at=created, seller=SELLER, buyer=buyer)
        doc = issue_document(inv, signer, env=QrEnvironment.TEST, mode=OfflineMode.OFFLINE24)
        return NewInvoice(number=inv.number, xml=doc.xml, sha256=doc.sha256, issue_date=issue_date,
                          kod1_url=doc.kod1_url, kod2_url=doc.kod2_url, cert_serial=doc.cert_serial,
                          offline_mode="offline24", deadline=doc.deadline)

    rec, _ = await store.issue(series=series, created_at=now, idempotency_key=key or f"{series}-{now.timestamp()}-{id(build)}",
                               request_hash="h", build=build)
    return rec.id


async def store_raw(store: OutboxStore, xml: bytes, number: str, issue_date: dt.date, series: str = "RAW") -> int:
    """Store given FA(3) bytes (e.g. the official sample) as an issued invoice."""
    def build(seq: int, created: dt.datetime) -> NewInvoice:
        return NewInvoice(number=number, xml=xml, sha256=hashlib.sha256(xml).digest(), issue_date=issue_date,
                          kod1_url=None, kod2_url=None, cert_serial=None, offline_mode="offline24", deadline=None)

    rec, _ = await store.issue(series=series, created_at=dt.datetime.now(dt.timezone.utc),
                               idempotency_key=f"raw-{number}", request_hash="h", build=build)
    return rec.id


async def confirm(store: OutboxStore, invoice_id: int, upo: bytes | None = None) -> None:
    """issued -> sending -> accepted -> confirmed, as the uplink does, with the official UPO bytes."""
    rec = await store.get(invoice_id)
    await store.mark_sending(invoice_id, "20251031-SO-0000000000-000000000000-00")
    await store.mark_accepted(invoice_id, make_ksef_number("5265877635", rec.issue_date, f"{invoice_id:012X}"))
    await store.mark_confirmed(invoice_id, upo or (OFFICIAL / "upo.xml").read_bytes())


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """`ksef-edge ARGS` as a real subprocess."""
    env = dict(os.environ)
    env.pop("CREDENTIALS_DIRECTORY", None)
    return subprocess.run([KSEF_EDGE, *args], capture_output=True, text=True, timeout=60, cwd=cwd, env=env)


def cli_inproc(capsys, *args: str) -> subprocess.CompletedProcess[str]:
    """`ksef-edge ARGS` through `ksef_edge.cli.main` in this process (no interpreter start-up)."""
    from ksef_edge.cli import main

    capsys.readouterr()
    code = main(list(args))
    out = capsys.readouterr()
    return subprocess.CompletedProcess(["ksef-edge", *args], code, out.out, out.err)
