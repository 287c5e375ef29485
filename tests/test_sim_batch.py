"""ksef-sim batch sessions over HTTP: 1 000 invoices in a multi-part encrypted ZIP, per-invoice
checks as in online sessions, and package errors. Exchanges validated against open-api.json."""
from __future__ import annotations

import re
import time

from ksef_edge.domain.fa3 import validate_upo
from sim_client import KsefTestClient, SessionCrypto, sha256_b64, template_invoice
from sim_fixtures import SIM_NIP, SIM_TOKEN


async def test_batch_of_1000_invoices_in_three_parts(ksef_client: KsefTestClient, ksef_sim):
    await ksef_client.authenticate(SIM_NIP, SIM_TOKEN)
    files = {f"invoice-{n:04d}.xml": template_invoice(n) for n in range(1, 1001)}
    files["invoice-1001.xml"] = template_invoice(5)                      # duplicate of invoice 5
    started = time.monotonic()
    session = await ksef_client.send_batch(files, parts=3, offline_mode=True)
    assert re.match(r"^\d{8}-SB-", session)
    final = await ksef_client.wait_session(session)
    assert time.monotonic() - started < 30
    assert final["status"]["code"] == 200
    assert (final["invoiceCount"], final["successfulInvoiceCount"], final["failedInvoiceCount"]) == (1001, 1000, 1)
    invoices = await ksef_client.all_invoices(session, page_size=1000)
    assert len(invoices) == 1001
    by_name = {i["invoiceFileName"]: i for i in invoices}
    assert by_name["invoice-1001.xml"]["status"]["code"] == 440
    assert by_name["invoice-1001.xml"]["status"]["extensions"]["originalKsefNumber"] == by_name["invoice-0005.xml"]["ksefNumber"]
    assert by_name["invoice-0042.xml"]["invoiceHash"] == sha256_b64(files["invoice-0042.xml"])
    assert {i["invoicingMode"] for i in invoices if i["status"]["code"] == 200} == {"Offline"}
    assert len({i["ksefNumber"] for i in invoices if i["status"]["code"] == 200}) == 1000
    upo = await ksef_client.session_upo(session, final["upo"]["pages"][0]["referenceNumber"])
    validate_upo(upo.body)
    assert upo.body.count(b"<Dokument>") == 1000
    assert all(i["count"] == 1 for i in ksef_sim.invoices())


async def test_batch_with_a_corrupted_part_fails_as_package_error(ksef_client: KsefTestClient):
    await ksef_client.authenticate(SIM_NIP, SIM_TOKEN)
    crypto = SessionCrypto()
    good = crypto.encrypt(b"PK not really a zip but encrypted fine")
    cert = await ksef_client.key_for("SymmetricKeyEncryption")
    opened = (await ksef_client.expect(201, "POST", "/sessions/batch", json_body={
        "formCode": {"systemCode": "FA (3)", "schemaVersion": "1-0E", "value": "FA"},
        "batchFile": {"fileSize": 38, "fileHash": sha256_b64(b"PK not really a zip but encrypted fine"),
                      "fileParts": [{"ordinalNumber": 1, "fileSize": len(good), "fileHash": sha256_b64(good)}]},
        "encryption": crypto.encryption_info(cert)})).json()
    session = opened["referenceNumber"]
    closing_early = await ksef_client.request("POST", f"/sessions/batch/{session}/close")
    assert closing_early.status == 400 and closing_early.exception_codes() == [21205]
    upload = opened["partUploadRequests"][0]
    assert upload["headers"] == {"x-ms-blob-type": "BlockBlob"}
    forged = await ksef_client.request("PUT", upload["url"].replace("sig=", "sig=0"), data=good, bearer=None)
    assert forged.status == 403
    assert (await ksef_client.request("PUT", upload["url"], data=good, bearer=None)).status == 201
    await ksef_client.expect(204, "POST", f"/sessions/batch/{session}/close")
    final = await ksef_client.wait_session(session)
    assert final["status"]["code"] == 430        # decompression error of the original archive
