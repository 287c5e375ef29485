"""The running daemon with the uplink on: a rejected invoice fixed with `ksef-edge correct` from a second
process, and the reprint with the KSeF number under KOD I once KSeF accepts an invoice."""
from __future__ import annotations

import asyncio
import base64
import datetime as dt
import hashlib
import json
import subprocess
import sys
import time
import urllib.request

from daemon_fixtures import VALID_BODY, daemon_process
from ksef_edge.domain.deadlines import OfflineMode
from ksef_edge.domain.issuance import issue_document
from ksef_edge.domain.qr import QrEnvironment, sha256_b64url, verify_kod2_url
from ksef_edge.keystore.certificates import load_certificate
from ksef_edge.store import InvoiceState, OutboxStore
from sim_fixtures import SIM_TOKEN
from uplink_fixtures import issue_invoices


def _get(url: str, token: str) -> dict:
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


def _post(url: str, token: str, body: dict, key: str) -> dict:
    req = urllib.request.Request(url, method="POST", data=json.dumps(body).encode(), headers={
        "Authorization": f"Bearer {token}", "Content-Type": "application/json", "Idempotency-Key": key})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


async def _wait_state(db, invoice_id: int, state: InvoiceState, timeout_s: float = 60) -> None:
    store = await OutboxStore.open(db)
    try:
        end = time.monotonic() + timeout_s
        while (await store.get(invoice_id)).state is not state:
            assert time.monotonic() < end, f"invoice {invoice_id} never became {state.value}"
            await asyncio.sleep(0.2)
    finally:
        await store.close()


def test_ksef_edge_correct_fixes_a_rejected_invoice_while_the_daemon_runs(tmp_path, ksef_sim, ec_signer):
    from domain_factories import SELLER, invoice, line

    ksef = f'environment = "simulator"\napi_base_url = "{ksef_sim.api_url}"\nuplink_idle_s = 0.5\nuplink_poll_interval_s = 0.2'
    with daemon_process(tmp_path, ksef_toml=ksef, uplink="auto", ksef_token=SIM_TOKEN) as d:
        db = d.files.db

        async def put_broken() -> tuple[int, bytes, object]:
            store = await OutboxStore.open(db)  # a second writer next to the daemon (WAL)
            try:
                [bad] = await issue_invoices(store, ec_signer, 1, prefix="BAD", broken=True)
                return bad, await store.get_xml(bad), await store.get(bad)
            finally:
                await store.close()

        bad, original_xml, before = asyncio.run(put_broken())
        asyncio.run(_wait_state(db, bad, InvoiceState.REJECTED))

        fixed = issue_document(invoice(line(price="1.99"), number=before.number, issue_date=before.issue_date,
                                       created_at=dt.datetime.now(dt.timezone.utc), seller=SELLER),
                               ec_signer, env=QrEnvironment.TEST, mode=OfflineMode.OFFLINE24)
        (tmp_path / "fixed.xml").write_bytes(fixed.xml)
        run = subprocess.run([sys.executable, "-m", "ksef_edge", "correct", str(bad), "--xml", str(tmp_path / "fixed.xml"),
                              "--config", str(d.files.config)], capture_output=True, text=True, timeout=120)
        assert run.returncode == 0, run.stderr
        assert "KSeF accepted the new file as 5265877635-" in run.stdout

        again = subprocess.run([sys.executable, "-m", "ksef_edge", "correct", str(bad), "--xml", str(tmp_path / "fixed.xml"),
                                "--config", str(d.files.config)], capture_output=True, text=True, timeout=60)
        assert again.returncode == 1 and "only a rejected invoice" in again.stderr

        async def check() -> None:
            store = await OutboxStore.open(db)
            try:
                rec = await store.get(bad)
                tc = await store.technical_correction(bad)
            finally:
                await store.close()
            assert rec.state is InvoiceState.CONFIRMED and rec.ksef_number and rec.upo
            assert rec.sha256 == before.sha256 and rec.kod1_url == before.kod1_url  # what the customer holds
            assert tc is not None and tc.xml == fixed.xml and tc.sha256 == hashlib.sha256(fixed.xml).digest()
            # the correction's own links, from ITS bytes, signed by this device's Offline key
            assert tc.kod1_url.endswith("/" + sha256_b64url(fixed.xml)) and tc.kod1_url != before.kod1_url
            cert = load_certificate((tmp_path / "offline-cert.pem").read_bytes())
            assert verify_kod2_url(tc.kod2_url, cert.public_key)
            assert base64.b64encode(tc.sha256).decode().encode() in tc.upo

        asyncio.run(check())
        in_ksef = {i["invoiceHash"]: i for i in ksef_sim.invoices()}
        assert in_ksef[fixed.sha256_b64]["hashOfCorrectedInvoice"] == base64.b64encode(before.sha256).decode()


def test_reprint_on_accept_prints_a_copy_with_the_ksef_number_under_kod_i(tmp_path, ksef_sim):
    ksef = f'environment = "simulator"\napi_base_url = "{ksef_sim.api_url}"\nuplink_idle_s = 0.5\nuplink_poll_interval_s = 0.2'
    printer = '[printer]\nconnection = "file"\nfile_path = "receipts.bin"\nreprint_on_accept = true\n'
    with daemon_process(tmp_path, ksef_toml=ksef, uplink="auto", ksef_token=SIM_TOKEN, extra_toml=printer) as d:
        issued = _post(d.base_url + "/v1/invoices", d.token, VALID_BODY, key="r1")
        asyncio.run(_wait_state(d.files.db, issued["id"], InvoiceState.CONFIRMED))
        number = _get(d.base_url + f"/v1/invoices/{issued['id']}", d.token)["ksef_number"]
        sink = tmp_path / "receipts.bin"
        end = time.monotonic() + 20
        while number.encode() not in (sink.read_bytes() if sink.exists() else b"") and time.monotonic() < end:
            time.sleep(0.2)
        data = sink.read_bytes()  # the file sink holds the latest receipt: the copy printed after acceptance
    kod1 = data.index(b"/invoice/5265877635/")  # KOD I's link inside the QR command
    assert data.index(number.encode()) > kod1  # the KSeF number is printed under KOD I ...
    assert b"OFFLINE" not in data and b"DUPLIKAT" in data  # ... where the till's receipt said OFFLINE; marked a copy
