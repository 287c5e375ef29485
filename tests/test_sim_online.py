"""ksef-sim end to end over HTTP: token authentication, online session, statuses, UPO.
Every API exchange is validated against the official open-api.json (ksef_client fixture)."""
from __future__ import annotations

import base64
import re

from lxml import etree

from ksef_edge.domain.fa3 import validate_upo
from sim_client import KsefTestClient, SessionCrypto, sha256_b64, template_invoice
from sim_fixtures import SIM_NIP, SIM_TOKEN

REF = re.compile(r"^\d{8}-(?P<infix>[0-9A-Z]{2})-[0-9A-F]{10}-[0-9A-F]{10}-[0-9A-F]{2}$")
UPO_NS = {"u": "http://upo.schematy.mf.gov.pl/KSeF/v4-3"}


def crc8(data: bytes) -> int:
    """CRC-8 poly 0x07, init 0, MSB first (protocol.md §8, test-vectors TV-4) — independent of ksef_edge."""
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = ((crc << 1) ^ 0x07) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc


def test_crc8_reference_matches_official_vector():
    assert f"{crc8(b'5265877635-20250826-0100001AF629'):02X}" == "AF"


async def test_public_key_certificates_identify_their_keys(ksef_client: KsefTestClient):
    import hashlib

    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    certs = await ksef_client.certificates()
    assert {u for c in certs for u in c["usage"]} == {"KsefTokenEncryption", "SymmetricKeyEncryption"}
    for c in certs:
        der = base64.b64decode(c["certificate"])
        cert = x509.load_der_x509_certificate(der)
        spki = cert.public_key().public_bytes(serialization.Encoding.DER,
                                              serialization.PublicFormat.SubjectPublicKeyInfo)
        assert c["publicKeyId"] == base64.b64encode(hashlib.sha256(spki).digest()).decode()
        assert c["certificateId"] == base64.b64encode(hashlib.sha256(der).digest()).decode()
        assert cert.public_key().key_size == 2048


async def test_token_auth_yields_access_and_refresh_tokens_once(ksef_client: KsefTestClient):
    init = await ksef_client.start_token_auth(SIM_NIP, SIM_TOKEN)
    assert init.status == 202
    ref, op_token = init.json()["referenceNumber"], init.json()["authenticationToken"]["token"]
    assert REF.match(ref)["infix"] == "AU"
    status = await ksef_client.wait_auth(ref, op_token)
    assert status["status"]["code"] == 200
    first = await ksef_client.request("POST", "/auth/token/redeem", bearer=op_token)
    assert first.status == 200
    second = await ksef_client.request("POST", "/auth/token/redeem", bearer=op_token)
    assert second.status == 400 and second.exception_codes() == [21301]
    ksef_client.tokens = None
    await ksef_client.authenticate(SIM_NIP, SIM_TOKEN)
    new_access = await ksef_client.refresh()
    assert (await ksef_client.request("GET", "/rate-limits", bearer=new_access)).status == 200


async def test_wrong_token_ends_in_status_450(ksef_client: KsefTestClient):
    init = await ksef_client.start_token_auth(SIM_NIP, "not-the-token")
    assert init.status == 202
    status = await ksef_client.wait_auth(init.json()["referenceNumber"], init.json()["authenticationToken"]["token"])
    assert status["status"]["code"] == 450
    assert status["status"]["details"] == ["Nieprawidłowy token"]
    redeem = await ksef_client.request("POST", "/auth/token/redeem", bearer=init.json()["authenticationToken"]["token"])
    assert redeem.status == 400 and redeem.exception_codes() == [21301]


async def test_challenge_older_than_10_minutes_is_refused(ksef_client: KsefTestClient, ksef_sim):
    challenge = (await ksef_client.expect(200, "POST", "/auth/challenge", bearer=None)).json()
    assert REF.match(challenge["challenge"])["infix"] == "CR"
    ksef_sim.advance_clock(601)
    init = await ksef_client.start_token_auth(SIM_NIP, SIM_TOKEN, challenge=challenge)
    status = await ksef_client.wait_auth(init.json()["referenceNumber"], init.json()["authenticationToken"]["token"])
    assert status["status"]["code"] == 450
    assert status["status"]["details"] == ["Nieprawidłowe wyzwanie autoryzacyjne"]
    reused = await ksef_client.start_token_auth(SIM_NIP, SIM_TOKEN, challenge=challenge)
    assert reused.status == 400 and reused.exception_codes() == [21111]


async def test_unknown_public_key_id_is_21470(ksef_client: KsefTestClient):
    certs = await ksef_client.certificates()
    for c in certs:
        c["publicKeyId"] = base64.b64encode(b"\x01" * 32).decode()
    resp = await ksef_client.start_token_auth(SIM_NIP, SIM_TOKEN)
    assert resp.status == 400 and resp.exception_codes() == [21470]


async def test_expired_access_token_is_401_problem_json(ksef_client: KsefTestClient, ksef_sim):
    await ksef_client.authenticate(SIM_NIP, SIM_TOKEN)
    ksef_sim.advance_clock(901)
    resp = await ksef_client.request("GET", "/rate-limits")
    assert resp.status == 401
    assert resp.headers["Content-Type"].startswith("application/problem+json")
    await ksef_client.refresh()
    assert (await ksef_client.request("GET", "/rate-limits")).status == 200


async def test_online_session_accepts_rejects_and_detects_duplicates(ksef_client: KsefTestClient, ksef_sim):
    await ksef_client.authenticate(SIM_NIP, SIM_TOKEN)
    session, crypto = await ksef_client.open_online()
    assert REF.match(session)["infix"] == "SO"
    good, dup = template_invoice(1), template_invoice(1)
    invalid = template_invoice(2).replace(b"<P_15>53.63</P_15>", b"<P_15>abc</P_15>")
    refs = [await ksef_client.send_invoice(session, crypto, xml) for xml in (good, invalid)]
    first = await ksef_client.wait_invoice(session, refs[0])
    refs.append(await ksef_client.send_invoice(session, crypto, dup))
    statuses = [first] + [await ksef_client.wait_invoice(session, r) for r in refs[1:]]
    assert [REF.match(r)["infix"] for r in refs] == ["EE", "EE", "EE"]
    ok, bad, duplicate = statuses
    assert ok["status"]["code"] == 200 and ok["invoiceNumber"] == "FA/GRQMB-1/05/2025"
    assert ok["invoiceHash"] == sha256_b64(good)
    number = ok["ksefNumber"]
    assert re.fullmatch(rf"{SIM_NIP}-\d{{8}}-[0-9A-F]{{12}}-[0-9A-F]{{2}}", number)
    assert f"{crc8(number[:32].encode()):02X}" == number[-2:]
    assert ok["invoicingMode"] == "Offline"        # P_1 2025-09-01 is before today (protocol.md §5.3)
    assert bad["status"]["code"] == 430 and "P_15" in " ".join(bad["status"]["details"])
    assert duplicate["status"]["code"] == 440
    assert duplicate["status"]["extensions"] == {"originalSessionReferenceNumber": session,
                                                 "originalKsefNumber": number}
    assert number in duplicate["status"]["details"][0]
    failed = await ksef_client.all_invoices(session, failed=True)
    assert sorted(i["status"]["code"] for i in failed) == [430, 440]
    await ksef_client.close_online(session)
    final = await ksef_client.wait_session(session)
    assert final["status"]["code"] == 200
    assert (final["invoiceCount"], final["successfulInvoiceCount"], final["failedInvoiceCount"]) == (3, 1, 2)
    assert [i["ksefNumber"] for i in ksef_sim.invoices()] == [number]


async def test_upo_validates_against_xsd_and_carries_the_hash(ksef_client: KsefTestClient):
    await ksef_client.authenticate(SIM_NIP, SIM_TOKEN)
    session, crypto = await ksef_client.open_online()
    xml = template_invoice(7)
    ref = await ksef_client.send_invoice(session, crypto, xml, offline_mode=True)
    status = await ksef_client.wait_invoice(session, ref)
    assert status["status"]["code"] == 200 and status["invoicingMode"] == "Offline"
    for resp in (await ksef_client.invoice_upo(session, ref),
                 await ksef_client.invoice_upo_by_ksef_number(session, status["ksefNumber"]),
                 await ksef_client.request("GET", status["upoDownloadUrl"], bearer=None)):
        assert resp.status == 200
        assert resp.headers["x-ms-meta-hash"] == sha256_b64(resp.body)
        validate_upo(resp.body)
        doc = etree.fromstring(resp.body)
        assert doc.findtext("u:Dokument/u:NumerKSeFDokumentu", namespaces=UPO_NS) == status["ksefNumber"]
        assert doc.findtext("u:Dokument/u:SkrotDokumentu", namespaces=UPO_NS) == sha256_b64(xml)
        assert doc.findtext("u:Dokument/u:TrybWysylki", namespaces=UPO_NS) == "Offline"
        assert doc.findtext("u:NumerReferencyjnySesji", namespaces=UPO_NS) == session
    await ksef_client.close_online(session)
    final = await ksef_client.wait_session(session)
    page = final["upo"]["pages"][0]
    assert REF.match(page["referenceNumber"])["infix"] == "EU"
    upo = await ksef_client.session_upo(session, page["referenceNumber"])
    validate_upo(upo.body)
    assert (await ksef_client.request("GET", page["downloadUrl"], bearer=None)).body == upo.body


async def test_size_and_hash_mismatches_are_refused_synchronously(ksef_client: KsefTestClient):
    await ksef_client.authenticate(SIM_NIP, SIM_TOKEN)
    session, crypto = await ksef_client.open_online()
    body = ksef_client.invoice_payload(crypto, template_invoice(3))
    for change, code in (({"invoiceSize": body["invoiceSize"] + 1}, 21402),
                         ({"invoiceHash": sha256_b64(b"other")}, 21403),
                         ({"encryptedInvoiceSize": body["encryptedInvoiceSize"] - 16}, 21402),
                         ({"encryptedInvoiceHash": sha256_b64(b"other")}, 21403)):
        resp = await ksef_client.request("POST", f"/sessions/online/{session}/invoices", json_body={**body, **change})
        assert resp.status == 400 and resp.exception_codes() == [code], change


async def test_technical_correction_of_rejected_offline_invoice(ksef_client: KsefTestClient, ksef_sim):
    await ksef_client.authenticate(SIM_NIP, SIM_TOKEN)
    session, crypto = await ksef_client.open_online()
    rejected = template_invoice(9).replace(b"<P_15>53.63</P_15>", b"<P_15>x</P_15>")
    ref = await ksef_client.send_invoice(session, crypto, rejected, offline_mode=True)
    assert (await ksef_client.wait_invoice(session, ref))["status"]["code"] == 430
    fixed = template_invoice(9)
    ref2 = await ksef_client.send_invoice(session, crypto, fixed, offline_mode=True,
                                          hash_of_corrected=sha256_b64(rejected))
    assert (await ksef_client.wait_invoice(session, ref2))["status"]["code"] == 200
    again = await ksef_client.request("POST", f"/sessions/online/{session}/invoices", json_body=ksef_client.invoice_payload(
        crypto, template_invoice(10), offline_mode=True, hash_of_corrected=sha256_b64(rejected)))
    assert again.status == 400 and again.exception_codes() == [21166]
    of_accepted = await ksef_client.request("POST", f"/sessions/online/{session}/invoices", json_body=ksef_client.invoice_payload(
        crypto, template_invoice(11), offline_mode=True, hash_of_corrected=sha256_b64(fixed)))
    assert of_accepted.status == 400 and of_accepted.exception_codes() == [21167]
    [accepted] = ksef_sim.invoices()
    assert accepted["hashOfCorrectedInvoice"] == sha256_b64(rejected)


async def test_admin_token_for_another_nip_and_seller_outside_context_is_410(ksef_client: KsefTestClient, ksef_sim):
    other_nip = "1111111111"
    created = ksef_sim.add_token(other_nip, "other-shop-token")
    assert REF.match(created["referenceNumber"])["infix"] == "EC" and "token" not in created
    await ksef_client.authenticate(other_nip, "other-shop-token")
    session, crypto = await ksef_client.open_online()
    ref = await ksef_client.send_invoice(session, crypto, template_invoice(1))     # seller 5265877635
    status = await ksef_client.wait_invoice(session, ref)
    assert status["status"]["code"] == 410
    wrong_context = await ksef_client.start_token_auth(SIM_NIP, "other-shop-token")
    status = await ksef_client.wait_auth(wrong_context.json()["referenceNumber"],
                                         wrong_context.json()["authenticationToken"]["token"])
    assert status["status"]["code"] == 450


async def test_problem_details_format_on_request(ksef_client: KsefTestClient):
    await ksef_client.authenticate(SIM_NIP, SIM_TOKEN)
    session, crypto = await ksef_client.open_online()
    body = ksef_client.invoice_payload(crypto, template_invoice(3))
    resp = await ksef_client.request("POST", f"/sessions/online/{session}/invoices",
                                     headers={"X-Error-Format": "problem-details"},
                                     json_body={**body, "invoiceSize": body["invoiceSize"] + 1})
    assert resp.status == 400 and resp.headers["Content-Type"].startswith("application/problem+json")
    assert [e["code"] for e in resp.json()["errors"]] == [21402]
    assert ksef_client.checker is not None and ksef_client.checker.checked >= 6


async def test_rotated_key_makes_the_old_public_key_id_unknown(ksef_client: KsefTestClient, ksef_sim):
    await ksef_client.authenticate(SIM_NIP, SIM_TOKEN)
    await ksef_client.certificates()
    ksef_sim.admin("POST", "/admin/keys/rotate")
    stale = await ksef_client.request("POST", "/sessions/online", json_body={
        "formCode": {"systemCode": "FA (3)", "schemaVersion": "1-0E", "value": "FA"},
        "encryption": SessionCrypto().encryption_info(
            await ksef_client.key_for("SymmetricKeyEncryption"))})
    assert stale.status == 400 and stale.exception_codes() == [21470]
    ksef_client._certs = None                       # re-fetch the list, as protocol.md §3 says
    session, _ = await ksef_client.open_online()
    assert REF.match(session)
