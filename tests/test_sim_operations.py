"""ksef-sim answers every official operation in KSeF's shape (issue 17): the served ones, the
operations peer SDKs call (GET /sessions, GET /invoices/ksef/{n}, GET/DELETE /auth/sessions,
POST /auth/xades-signature), and JSON (never aiohttp text) for everything it does not serve.
Exchanges through `ksef_client` are validated against the official open-api.json."""
from __future__ import annotations

import datetime as dt
import json
import re
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from lxml import etree
from signxml import DigestAlgorithm, SignatureMethod
from signxml.xades import XAdESSigner, XAdESVerifier

from ksef_sim.ksef_numbers import crc8  # only to build another seller's well-formed number as input
from sim_client import KsefTestClient, Tokens, sha256_b64, template_invoice
from sim_fixtures import SIM_NIP, SIM_TOKEN

SPEC = json.loads((Path(__file__).resolve().parent.parent / "daemon" / "ksef_sim" / "open-api.json")
                  .read_text(encoding="utf-8"))
OFFICIAL_TE_UPO = (Path(__file__).resolve().parent / "fixtures" / "official" / "upo-te"
                   / "upo-faktura-kontekst-id-nip.xml")
UPO_NS = {"u": "http://upo.schematy.mf.gov.pl/KSeF/v4-3"}
DS = "{http://www.w3.org/2000/09/xmldsig#}"
PEER_SDK_OPERATIONS = [("GET", "/sessions"), ("GET", "/invoices/ksef/{ksefNumber}"), ("GET", "/auth/sessions"),
                       ("DELETE", "/auth/sessions/current"), ("DELETE", "/auth/sessions/{referenceNumber}"),
                       ("POST", "/auth/xades-signature")]
WARNING = re.compile(r"\[(?P<code>[^\]]+)\]: (?P<message>[^|]+)")   # open-api.json SystemWarning regex
DUMMY = {"referenceNumber": "20250101-SO-0000000000-0000000000-00", "ksefNumber": "5265877635-20250826-0100001AF629-AF"}


def official_operations() -> list[tuple[str, str]]:
    return [(m.upper(), p) for p, item in SPEC["paths"].items() for m in item
            if m in ("get", "post", "put", "delete", "patch")]


def raw(url: str, method: str, body: bytes | None = None, headers: dict | None = None) -> tuple[int, dict, bytes]:
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


def test_every_official_operation_and_unknown_path_answers_ksef_shaped_json(ksef_sim_factory):
    sim = ksef_sim_factory("--rate-limits", "off")
    ops = official_operations()
    assert len(ops) == 78
    served = []
    for method, path in ops:
        url = sim.api_url + re.sub(r"\{([^}]+)\}", lambda m: DUMMY.get(m.group(1), "x1"), path)
        body = b"{}" if method in ("POST", "PUT", "PATCH") else None
        status, headers, payload = raw(url, method, body, {"Content-Type": "application/json"})
        kind = headers.get("Content-Type", "").split(";")[0]
        assert status < 500 or status == 501, (method, path, status, payload[:200])
        if status in (200, 201, 202, 204):
            served.append((method, path))
            continue
        assert kind in ("application/json", "application/problem+json"), (method, path, status, kind, payload[:200])
        data = json.loads(payload)
        if status == 501:
            detail = data["exception"]["exceptionDetailList"][0]
            assert f"{method} {path}" in detail["details"][0]
        else:
            served.append((method, path))
    for method, path in PEER_SDK_OPERATIONS:
        assert (method, path) in served, f"{method} {path} not served"
    assert len(served) >= 25, sorted(served)
    for method, path in (("GET", "/no/such/path"), ("PATCH", "/auth/challenge"), ("GET", "")):
        status, headers, payload = raw(sim.api_url + path, method)
        assert status in (404, 405) and headers["Content-Type"].startswith("application/json"), (path, payload)
        assert json.loads(payload)["exception"]["exceptionDetailList"][0]["details"]
    status, headers, payload = raw(sim.api_url + "/no/such/path", "GET", headers={"X-Error-Format": "problem-details"})
    assert status == 404 and headers["Content-Type"].startswith("application/problem+json")


async def test_auth_sessions_list_is_not_the_auth_status_and_revoking_stops_the_refresh_token(
        ksef_client: KsefTestClient):
    await ksef_client.authenticate(SIM_NIP, SIM_TOKEN)
    listed = (await ksef_client.expect(200, "GET", "/auth/sessions")).json()["items"]
    assert len(listed) == 1 and listed[0]["isCurrent"] is True
    assert listed[0]["authenticationMethodInfo"]["code"] == "token.ksef"
    await ksef_client.expect(204, "DELETE", "/auth/sessions/current")
    refused = await ksef_client.request("POST", "/auth/token/refresh", bearer="refresh")
    assert refused.status == 401 and refused.headers["Content-Type"].startswith("application/problem+json")
    # "Aktywne access tokeny działają do czasu minięcia ich termin ważności" (open-api.json)
    assert (await ksef_client.expect(200, "GET", "/auth/sessions")).json()["items"] == []


async def test_revoking_another_auth_session_by_reference(ksef_sim, ksef_client: KsefTestClient):
    async with KsefTestClient(ksef_sim.api_url) as other:
        await other.authenticate(SIM_NIP, SIM_TOKEN)
    await ksef_client.authenticate(SIM_NIP, SIM_TOKEN)
    items = (await ksef_client.expect(200, "GET", "/auth/sessions")).json()["items"]
    assert len(items) == 2
    stranger = next(i for i in items if not i["isCurrent"])
    await ksef_client.expect(204, "DELETE", f"/auth/sessions/{stranger['referenceNumber']}")
    left = (await ksef_client.expect(200, "GET", "/auth/sessions")).json()["items"]
    assert [i["isCurrent"] for i in left] == [True]
    unknown = await ksef_client.request("DELETE", "/auth/sessions/20250101-AU-0000000000-0000000000-00")
    assert unknown.status == 400 and unknown.exception_codes() == [21405]


async def test_session_list_and_invoice_download_by_ksef_number(ksef_client: KsefTestClient):
    await ksef_client.authenticate(SIM_NIP, SIM_TOKEN)
    session, crypto = await ksef_client.open_online()
    xml = template_invoice("OPS/1")
    status = await ksef_client.wait_invoice(session, await ksef_client.send_invoice(session, crypto, xml))
    listed = (await ksef_client.expect(200, "GET", "/sessions?sessionType=Online")).json()["sessions"]
    assert [(s["referenceNumber"], s["totalInvoiceCount"], s["successfulInvoiceCount"]) for s in listed] == \
        [(session, 1, 1)]
    assert (await ksef_client.expect(200, "GET", "/sessions?sessionType=Batch")).json()["sessions"] == []
    assert (await ksef_client.expect(200, "GET", "/sessions?sessionType=Online&statuses=Succeeded")
            ).json()["sessions"] == []                  # still open: InProgress
    bad = await ksef_client.request("GET", "/sessions", validate_request=False)
    assert bad.status == 400 and bad.exception_codes() == [21405]
    got = await ksef_client.expect(200, "GET", f"/invoices/ksef/{status['ksefNumber']}")
    assert got.body == xml and got.headers["x-ms-meta-hash"] == sha256_b64(xml)
    other = status["ksefNumber"][:20] + "0000000000AA"
    other = other + "-" + f"{crc8(other.encode()):02X}"
    missing = await ksef_client.request("GET", f"/invoices/ksef/{other}")
    assert missing.status == 400 and missing.exception_codes() == [21164]


def test_system_warning_header_has_the_official_shape(ksef_sim_factory):
    sim = ksef_sim_factory("--system-warning", "W001=Klucz publiczny wygaśnie wkrótce", "--environment", "test")
    status, headers, _ = raw(sim.api_url + "/security/public-key-certificates", "GET")
    assert status == 200
    value = headers["X-System-Warning"]
    assert value == "[W001]: Klucz publiczny wygasnie wkrotce"          # ASCII-folded, as the spec says
    assert [m.groupdict() for m in WARNING.finditer(value)] == [
        {"code": "W001", "message": "Klucz publiczny wygasnie wkrotce"}]
    _, headers, _ = raw(sim.api_url + "/auth/challenge", "POST", headers={"X-Test-System-Warning": "[T1]: próba"})
    assert [m.group("code") for m in WARNING.finditer(headers["X-System-Warning"])] == ["W001", "T1"]
    sim.admin("DELETE", "/admin/system-warning")
    _, headers, _ = raw(sim.api_url + "/security/public-key-certificates", "GET")
    assert "X-System-Warning" not in headers


async def test_te_upo_names_the_te_receiver_and_carries_a_verifiable_xades_signature(ksef_sim_factory):
    sim = ksef_sim_factory("--environment", "test")
    official = etree.parse(str(OFFICIAL_TE_UPO)).getroot()
    async with KsefTestClient(sim.api_url) as client:
        await client.authenticate(SIM_NIP, SIM_TOKEN)
        session, crypto = await client.open_online()
        xml = template_invoice("TE/1")
        status = await client.wait_invoice(session, await client.send_invoice(session, crypto, xml))
        upo = await client.invoice_upo(session, status["referenceNumber"])
        by_url = await client.request("GET", status["upoDownloadUrl"], bearer=None)
    assert upo.headers["x-ms-meta-hash"] == sha256_b64(upo.body) and by_url.body == upo.body
    doc = etree.fromstring(upo.body)
    assert doc.findtext("u:NazwaPodmiotuPrzyjmujacego", namespaces=UPO_NS) == \
        official.findtext("u:NazwaPodmiotuPrzyjmujacego", namespaces=UPO_NS)
    assert doc.findtext("u:Dokument/u:SkrotDokumentu", namespaces=UPO_NS) == sha256_b64(xml)
    signature = doc.find(f"{DS}Signature")
    assert signature is not None and signature.getparent() is doc          # enveloped
    cert = x509.load_pem_x509_certificate(urllib.request.urlopen(sim.root_url + "/admin/upo-certificate").read())
    verified = XAdESVerifier().verify(upo.body, x509_cert=cert)
    assert verified[0].signed_xml.tag == "{http://upo.schematy.mf.gov.pl/KSeF/v4-3}Potwierdzenie"
    tampered = upo.body.replace(sha256_b64(xml).encode(), b"A" * 43 + b"=")
    with pytest.raises(Exception, match="[Dd]igest"):
        XAdESVerifier().verify(tampered, x509_cert=cert)
    # without the signature the structure is the official TE example's, element for element (the example
    # comes from an XAdES-authenticated session; a token session names its token: the XSD's choice)
    doc.remove(signature)
    assert _tags(doc) == _tags(official)
    assert doc.findtext("u:Uwierzytelnienie/u:NumerReferencyjnyTokenaKSeF", namespaces=UPO_NS)


def _tags(root: etree._Element) -> list[str]:
    choice = {"NumerReferencyjnyTokenaKSeF", "SkrotDokumentuUwierzytelniajacego"}
    names = [etree.QName(e).localname for e in root.iter() if isinstance(e.tag, str)]
    return ["(uwierzytelnienie)" if n in choice else n for n in names]


# --- XAdES authentication ------------------------------------------------------------------------

def _cert(subject: list[x509.NameAttribute]) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.timezone.utc)
    name = x509.Name(subject)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=30)).sign(key, hashes.SHA256()))
    return key, cert


def _signed_request(challenge: str, nip: str, key, cert) -> bytes:
    """An AuthTokenRequest 2.0 as in ksef-docs auth/context-identifier-nip.md, XAdES-BES enveloped."""
    doc = etree.fromstring(
        f'<AuthTokenRequest xmlns="http://ksef.mf.gov.pl/auth/token/2.0"><Challenge>{challenge}</Challenge>'
        f'<ContextIdentifier><Nip>{nip}</Nip></ContextIdentifier>'
        '<SubjectIdentifierType>certificateSubject</SubjectIdentifierType></AuthTokenRequest>'.encode())
    signer = XAdESSigner(signature_algorithm=SignatureMethod.ECDSA_SHA256, digest_algorithm=DigestAlgorithm.SHA256)
    return etree.tostring(signer.sign(doc, key=key, cert=[cert]), xml_declaration=True, encoding="utf-8")


async def _start_xades(client: KsefTestClient, body_of) -> tuple:
    challenge = (await client.expect(200, "POST", "/auth/challenge", bearer=None)).json()["challenge"]
    return await client.request("POST", "/auth/xades-signature", data=body_of(challenge), bearer=None,
                                headers={"Content-Type": "application/xml"})


async def test_xades_auth_with_a_nip_certificate_opens_an_online_session(ksef_client: KsefTestClient):
    key, cert = _cert([x509.NameAttribute(NameOID.COMMON_NAME, "Jan Kowalski"),
                       x509.NameAttribute(NameOID.SERIAL_NUMBER, f"TINPL-{SIM_NIP}"),
                       x509.NameAttribute(NameOID.COUNTRY_NAME, "PL")])
    init = await _start_xades(ksef_client, lambda ch: _signed_request(ch, SIM_NIP, key, cert))
    assert init.status == 202, init.body
    op_token = init.json()["authenticationToken"]["token"]
    status = await ksef_client.wait_auth(init.json()["referenceNumber"], op_token)
    assert status["status"]["code"] == 200 and status["authenticationMethodInfo"]["category"] == "XadesSignature"
    tokens = (await ksef_client.expect(200, "POST", "/auth/token/redeem", bearer=op_token)).json()
    ksef_client.tokens = Tokens(tokens["accessToken"]["token"], tokens["refreshToken"]["token"],
                                tokens["accessToken"]["validUntil"], tokens["refreshToken"]["validUntil"])
    session, crypto = await ksef_client.open_online()
    xml = template_invoice("XADES/1")
    status = await ksef_client.wait_invoice(session, await ksef_client.send_invoice(session, crypto, xml))
    upo = etree.fromstring((await ksef_client.invoice_upo(session, status["referenceNumber"])).body)
    # an XAdES session's UPO names the signed document's hash, as the official examples do
    assert upo.findtext("u:Uwierzytelnienie/u:SkrotDokumentuUwierzytelniajacego", namespaces=UPO_NS)


async def test_xades_auth_refusals(ksef_client: KsefTestClient):
    key, cert = _cert([x509.NameAttribute(NameOID.SERIAL_NUMBER, "PNOPL-80010112345"),
                       x509.NameAttribute(NameOID.COMMON_NAME, "Anna Nowak")])
    person = await _start_xades(ksef_client, lambda ch: _signed_request(ch, SIM_NIP, key, cert))
    assert person.status == 202      # signature fine; the person has no permissions in this simulator
    st = await ksef_client.wait_auth(person.json()["referenceNumber"], person.json()["authenticationToken"]["token"])
    assert st["status"]["code"] == 415
    tampered = await _start_xades(ksef_client, lambda ch: _signed_request(ch, SIM_NIP, key, cert).replace(
        SIM_NIP.encode(), b"1111111111"))
    assert tampered.status == 400 and tampered.exception_codes() == [9105]
    unsigned = await _start_xades(ksef_client, lambda ch: (
        f'<AuthTokenRequest xmlns="http://ksef.mf.gov.pl/auth/token/2.1"><Challenge>{ch}</Challenge>'
        f'<ContextIdentifier><Nip>{SIM_NIP}</Nip></ContextIdentifier>'
        '<SubjectIdentifierType>certificateSubject</SubjectIdentifierType></AuthTokenRequest>').encode())
    assert unsigned.status == 400 and unsigned.exception_codes() == [9102]
    reused = await ksef_client.request("POST", "/auth/xades-signature", bearer=None,
                                       data=_signed_request("20250604-CR-461EA5B000-537A6BA15D-D7", SIM_NIP, key, cert),
                                       headers={"Content-Type": "application/xml"})
    assert reused.status == 400 and reused.exception_codes() == [21111]
    garbage = await ksef_client.request("POST", "/auth/xades-signature", bearer=None, data=b"<a",
                                        headers={"Content-Type": "application/xml"})
    assert garbage.status == 400 and garbage.exception_codes() == [21001]
    # damaged signature parts are bad requests with a code, never a 5xx
    for damage, code in ((lambda b: re.sub(rb"<ds:X509Certificate>[^<]+", b"<ds:X509Certificate>AAAA", b), 21115),
                         (lambda b: b.replace(b"xmldsig-more#ecdsa-sha256", b"xmldsig-more#nonsense"), 9105),
                         (lambda b: re.sub(rb"<ds:SignatureValue>[^<]+", b"<ds:SignatureValue>!!", b), 9105)):
        damaged = await _start_xades(ksef_client, lambda ch: damage(_signed_request(ch, SIM_NIP, key, cert)))
        assert damaged.status == 400 and damaged.exception_codes() == [code], damaged.body[:300]
