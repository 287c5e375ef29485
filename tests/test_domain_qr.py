"""KOD I / KOD II against the official KSeF test vectors (shared/ksef/test-vectors.md TV-1..3, TV-10)."""
from __future__ import annotations

import base64
import datetime as dt
import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from ksef_edge.domain.errors import DomainError
from ksef_edge.domain.qr import (
    QrEnvironment,
    b64url_decode,
    kod1_url,
    kod1_url_for_hash,
    kod2_sign_string,
    kod2_url,
    kod2_url_with_signature,
    sha256_b64url,
    verify_kod2_url,
)
from ksef_edge.domain.signer import certificate_public_key, certificate_serial_hex
from official_vectors import TV2_SIGN_STRING, TV2_SIGNATURE, TV2_URL, TV3_CERT_DER, TV_HASH


def test_qr_environment_bases_match_the_official_hosts():
    assert QrEnvironment.TEST.base == "https://qr-test.ksef.mf.gov.pl"
    assert QrEnvironment.DEMO.base == "https://qr-demo.ksef.mf.gov.pl"
    assert QrEnvironment.PRD.base == "https://qr.ksef.mf.gov.pl"
    assert QrEnvironment.parse("PROD") is QrEnvironment.PRD
    with pytest.raises(DomainError, match="unknown KSeF environment"):
        QrEnvironment.parse("staging")


def test_tv1_kod1_url_matches_official_example():
    url = kod1_url_for_hash(QrEnvironment.TEST, "1111111111", dt.date(2026, 2, 1), TV_HASH)
    assert url == "https://qr-test.ksef.mf.gov.pl/invoice/1111111111/01-02-2026/UtQp9Gpc51y-u3xApZjIjgkpZ01js-J8KflSPW8WzIE"
    # the API form of the same digest is standard Base64 with padding
    assert base64.b64encode(b64url_decode(TV_HASH)).decode() == "UtQp9Gpc51y+u3xApZjIjgkpZ01js+J8KflSPW8WzIE="


@pytest.mark.parametrize("xml, b64url_hash", [
    (b"<root>test</root>", "qrs2gCLXnTUy6--AHwHuDxFuCj0BYUGRGtBuGnJwN-c"),
    (b"<data>special & chars /?</data>", "2bEg3cUOcJxR38JekXJxuJphnkn-NUdSP-uyOc0hB6I"),
    (b"<x/>", "KjH0TaS9fey70939GjeuBNAuxmXiwmiIFszGVjFYbtE"),
])
def test_tv10_kod1_of_official_client_inputs(xml, b64url_hash):
    assert sha256_b64url(xml) == b64url_hash
    assert kod1_url(QrEnvironment.TEST, "1234567890", dt.date(2026, 1, 5), xml) == (
        f"https://qr-test.ksef.mf.gov.pl/invoice/1234567890/05-01-2026/{b64url_hash}")


def test_tv10_kod1_of_the_official_sample_invoice(official_dir):
    xml = (official_dir / "invoice.xml").read_bytes()
    assert len(xml) == 13215 and not xml.startswith(b"\xef\xbb\xbf")
    assert base64.b64encode(hashlib.sha256(xml).digest()).decode() == "OmE5U9cjvIU6pc3yL3bxV0D96hteDTCwMdB0gaJ5KhM="
    assert kod1_url(QrEnvironment.TEST, "5265877635", dt.date(2025, 10, 31), xml) == (
        "https://qr-test.ksef.mf.gov.pl/invoice/5265877635/31-10-2025/OmE5U9cjvIU6pc3yL3bxV0D96hteDTCwMdB0gaJ5KhM")
    assert kod2_sign_string(QrEnvironment.TEST, "Nip", "5265877635", "5265877635", "01F20A5D352AE590",
                            sha256_b64url(xml)) == (
        "qr-test.ksef.mf.gov.pl/certificate/Nip/5265877635/5265877635/01F20A5D352AE590/"
        "OmE5U9cjvIU6pc3yL3bxV0D96hteDTCwMdB0gaJ5KhM")


def test_tv2_kod2_string_and_url_match_official_example():
    sign_string = kod2_sign_string(QrEnvironment.TEST, "Nip", "1111111111", "1111111111", "01F20A5D352AE590", TV_HASH)
    assert sign_string == TV2_SIGN_STRING
    url = kod2_url_with_signature(sign_string, b64url_decode(TV2_SIGNATURE))
    assert url == TV2_URL and len(url) == 472


def test_tv3_official_rsa_pss_signature_verifies_with_the_te_certificate():
    # cryptography >= 49 refuses this certificate; the key is read through asn1crypto
    public_key = certificate_public_key(TV3_CERT_DER)
    assert isinstance(public_key, rsa.RSAPublicKey) and public_key.key_size == 2048
    assert certificate_serial_hex(TV3_CERT_DER) == "01F20A5D352AE590"
    assert verify_kod2_url(TV2_URL, public_key)


def test_tv3_verification_rejects_tampering():
    public_key = certificate_public_key(TV3_CERT_DER)
    assert not verify_kod2_url(TV2_URL.replace("/Nip/1111111111/1111111111/", "/Nip/1111111111/5265877635/"), public_key)
    assert not verify_kod2_url(TV2_URL.replace("qr-test", "qr-demo"), public_key)
    assert not verify_kod2_url(TV2_URL[:-4] + "AAAA", public_key)
    assert not verify_kod2_url("https://qr-test.ksef.mf.gov.pl/invoice/1111111111/01-02-2026/" + TV_HASH, public_key)
    other = ec.generate_private_key(ec.SECP256R1()).public_key()
    assert not verify_kod2_url(TV2_URL, other)


def test_ec_signer_kod2_verifies_as_p1363_and_as_der(ec_signer):
    xml = b"<Faktura/>"
    url = kod2_url(QrEnvironment.TEST, "Nip", "5265877635", "5265877635", xml, ec_signer)
    assert url.startswith("https://qr-test.ksef.mf.gov.pl/certificate/Nip/5265877635/5265877635/01F20A5D352AE591/"
                          + sha256_b64url(xml) + "/")
    signature = b64url_decode(url.rsplit("/", 1)[1])
    assert len(signature) == 64  # P1363 r||s, the form MF recommends
    public_key = certificate_public_key(ec_signer.certificate_der)
    assert verify_kod2_url(url, public_key)
    # the same signature in ASN.1 DER (what Java clients emit) is accepted too
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
    der = encode_dss_signature(int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big"))
    der_url = kod2_url_with_signature(url.removeprefix("https://").rsplit("/", 1)[0], der)
    assert verify_kod2_url(der_url, public_key)
    assert "=" not in url and "+" not in url


@pytest.mark.parametrize("kwargs, message", [
    (dict(ctx_type="Pesel"), "context type"),
    (dict(ctx_value="123"), "10-digit NIP"),
    (dict(cert_serial="01f20a5d352ae590"), "uppercase hex"),
    (dict(hash_b64url=TV_HASH + "="), "Base64URL"),
    (dict(seller_nip="0111111111"), "10-digit NIP"),
])
def test_kod2_sign_string_rejects_malformed_parts(kwargs, message):
    args = dict(env=QrEnvironment.TEST, ctx_type="Nip", ctx_value="1111111111", seller_nip="1111111111",
                cert_serial="01F20A5D352AE590", hash_b64url=TV_HASH)
    args.update(kwargs)
    with pytest.raises(DomainError, match=message):
        kod2_sign_string(**args)
