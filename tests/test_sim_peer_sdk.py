"""ksef-sim driven by an independent, published KSeF client: PyPI `ksef-client` (smekcio/ksef-client-python,
typed SDK for KSeF API v2), whole flow on a simulator playing TE: token auth, online session, offline
mode, 430 schema error, 440 duplicate, UPO (TE receiver, XAdES-signed), batch session, session list,
invoice download, auth sessions, 429 with Retry-After, X-System-Warning.

ksef-client refuses pre-signed URLs on loopback addresses (a sound SSRF guard), so the client reaches the
simulator through it as an HTTP proxy under the reserved name `ksef-sim.test` (RFC 2606): real HTTP,
no mocks, and the pre-signed batch/UPO URLs carry that name as KSeF's carry its storage host.
"""
from __future__ import annotations

import base64
import hashlib
import time
import urllib.request
from collections.abc import Iterator
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from cryptography import x509
from lxml import etree
from signxml.xades import XAdESVerifier

from sim_client import template_invoice
from sim_fixtures import SIM_NIP, SIM_TOKEN, SimProcess

ksef_client = pytest.importorskip("ksef_client")
from ksef_client import KsefClient, KsefClientOptions, KsefRateLimitError  # noqa: E402
from ksef_client import models as m  # noqa: E402
from ksef_client.services import AuthCoordinator  # noqa: E402
from ksef_client.services.workflows import BatchSessionWorkflow, OnlineSessionWorkflow  # noqa: E402
from ksef_client.utils.zip_utils import build_zip  # noqa: E402

UPO_NS = {"u": "http://upo.schematy.mf.gov.pl/KSeF/v4-3"}
TE_RECEIVER = "Ministerstwo Finansów - środowisko testowe (TE)"   # as in the official TE UPO examples
FA3 = m.FormCode(system_code="FA (3)", schema_version="1-0E", value="FA")
FINAL = (200, 405, 410, 415, 430, 435, 440, 450, 500, 550)


def today_invoice(number: str) -> bytes:
    """The official template issued today (Warsaw): otherwise P_1 before the sending day makes KSeF mark
    it Offline by itself (protocol.md §5.3)."""
    today = datetime.now(ZoneInfo("Europe/Warsaw")).date().isoformat()
    return template_invoice(number).replace(b"<P_1>2025-09-01</P_1>", f"<P_1>{today}</P_1>".encode())


def sha256_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode("ascii")


@pytest.fixture
def te_sim(ksef_sim_factory) -> SimProcess:
    return ksef_sim_factory("--environment", "test", "--rate-limits", "off",
                            "--system-warning", "SIM-1=Symulator: srodowisko testowe")


@pytest.fixture
def sdk(te_sim: SimProcess) -> Iterator[tuple[KsefClient, list[str]]]:
    warnings: list[str] = []
    options = KsefClientOptions(base_url="http://ksef-sim.test/v2", proxy=te_sim.root_url,
                                strict_presigned_url_validation=False, timeout_seconds=20,
                                system_warning_handler=warnings.append)
    with KsefClient(options) as client:
        yield client, warnings


def _login(client: KsefClient) -> str:
    pem = client.security.get_public_key_certificate_pem(m.PublicKeyCertificateUsage.KSEFTOKENENCRYPTION)
    result = AuthCoordinator(client.auth).authenticate_with_ksef_token(
        token=SIM_TOKEN, public_certificate=pem, context_identifier_type="nip",
        context_identifier_value=SIM_NIP, poll_interval_seconds=0.05, max_attempts=100)
    return result.tokens.access_token.token


def _wait_invoice(session, ref: str, token: str) -> m.SessionInvoiceStatusResponse:
    deadline = time.monotonic() + 20
    while True:
        status = session.get_invoice_status(ref, access_token=token)
        if status.status.code in FINAL or time.monotonic() > deadline:
            return status
        time.sleep(0.05)


def _wait_session(client: KsefClient, ref: str, token: str, pending=(100, 150, 170)) -> m.SessionStatusResponse:
    deadline = time.monotonic() + 30
    while True:
        status = client.sessions.get_session_status(ref, access_token=token)
        if status.status.code not in pending or time.monotonic() > deadline:
            return status
        time.sleep(0.05)


def _sim_upo_cert(sim: SimProcess) -> x509.Certificate:
    return x509.load_pem_x509_certificate(urllib.request.urlopen(sim.root_url + "/admin/upo-certificate").read())


def test_online_flow_offline_mode_schema_error_duplicate_and_signed_te_upo(sdk, te_sim: SimProcess):
    client, warnings = sdk
    token = _login(client)
    sym = client.security.get_public_key_certificate_pem(m.PublicKeyCertificateUsage.SYMMETRICKEYENCRYPTION)
    session = OnlineSessionWorkflow(client.sessions).open_session(form_code=FA3, public_certificate=sym,
                                                                  access_token=token, upo_v43=True)
    good, offline = today_invoice("SDK/1"), today_invoice("SDK/2")
    broken = template_invoice("SDK/3").replace(b"<RodzajFaktury>VAT", b"<RodzajFaktury>XYZ", 1)
    refs = [session.send_invoice(x, access_token=token).reference_number for x in (good,)]
    refs.append(session.send_invoice(offline, offline_mode=True, access_token=token).reference_number)
    refs.append(session.send_invoice(broken, access_token=token).reference_number)
    accepted, offline_st, rejected = (_wait_invoice(session, r, token) for r in refs)
    assert accepted.status.code == 200 and accepted.invoicing_mode.value == "Online"
    assert offline_st.status.code == 200 and offline_st.invoicing_mode.value == "Offline"
    assert rejected.status.code == 430 and rejected.ksef_number is None

    duplicate = _wait_invoice(session, session.send_invoice(good, access_token=token).reference_number, token)
    assert duplicate.status.code == 440
    assert duplicate.status.extensions["originalKsefNumber"] == accepted.ksef_number

    for status, xml, mode in ((accepted, good, "Online"), (offline_st, offline, "Offline")):
        upo = session.get_invoice_upo_by_ref(status.reference_number, access_token=token)
        assert upo == session.get_invoice_upo_by_ksef(status.ksef_number, access_token=token)
        doc = etree.fromstring(upo)
        assert doc.findtext("u:NazwaPodmiotuPrzyjmujacego", namespaces=UPO_NS) == TE_RECEIVER
        assert doc.findtext("u:Dokument/u:NumerKSeFDokumentu", namespaces=UPO_NS) == status.ksef_number
        assert doc.findtext("u:Dokument/u:SkrotDokumentu", namespaces=UPO_NS) == sha256_b64(xml)
        assert doc.findtext("u:Dokument/u:TrybWysylki", namespaces=UPO_NS) == mode
        XAdESVerifier().verify(upo, x509_cert=_sim_upo_cert(te_sim))

    assert client.invoices.get_invoice_bytes(accepted.ksef_number, access_token=token).content == good
    session.close(access_token=token)
    final = _wait_session(client, session.reference_number, token)
    assert (final.status.code, final.successful_invoice_count, final.failed_invoice_count) == (200, 2, 2)
    page = final.upo.pages[0]
    session_upo = session.get_upo(page.reference_number, access_token=token)
    assert len(etree.fromstring(session_upo).findall("u:Dokument", namespaces=UPO_NS)) == 2
    listed = client.sessions.get_sessions(session_type="Online", access_token=token).sessions
    assert [s.reference_number for s in listed] == [session.reference_number]
    assert warnings and all(w == "[SIM-1]: Symulator: srodowisko testowe" for w in warnings)


def test_batch_session_through_presigned_urls(sdk):
    client, _ = sdk
    token = _login(client)
    sym = client.security.get_public_key_certificate_pem(m.PublicKeyCertificateUsage.SYMMETRICKEYENCRYPTION)
    files = {f"fa-{i}.xml": template_invoice(f"SDK/B/{i}") for i in range(3)}
    files["dup.xml"] = files["fa-0.xml"]
    ref = BatchSessionWorkflow(client.sessions, client.http_client).open_upload_and_close(
        form_code=FA3, zip_bytes=build_zip(files), public_certificate=sym, access_token=token, upo_v43=True)
    final = _wait_session(client, ref, token)
    assert (final.status.code, final.successful_invoice_count, final.failed_invoice_count) == (200, 3, 1)
    invoices = client.sessions.get_session_invoices(ref, access_token=token).invoices
    assert sorted(i.status.code for i in invoices) == [200, 200, 200, 440]
    assert {i.invoice_hash for i in invoices} == {sha256_b64(x) for x in files.values()}
    assert client.sessions.get_sessions(session_type="Batch", access_token=token).sessions[0].reference_number == ref


def test_auth_sessions_list_and_revoke(sdk):
    client, _ = sdk
    token = _login(client)
    active = client.auth.get_active_sessions(access_token=token)
    assert [i.is_current for i in active.items] == [True]
    client.auth.revoke_current_session(token)
    assert client.auth.get_active_sessions(access_token=token).items == []


def test_rate_limit_429_carries_retry_after(sdk, te_sim: SimProcess):
    client, _ = sdk
    token = _login(client)
    te_sim.rate_limits(limits={"sessionList": {"perSecond": 1, "perMinute": 2, "perHour": 10}})
    with pytest.raises(KsefRateLimitError) as caught:
        for _ in range(3):
            client.sessions.get_sessions(session_type="Online", access_token=token)
    assert caught.value.status_code == 429 and caught.value.retry_after and caught.value.retry_after > 0
