"""Verify before you store (issue #17): a KOD II signature KSeF would not verify refuses the issuance.

The wrong signers are real keys signing the way a faulty device would: a TPM-like RSA-PSS with the
maximum salt length (TCG Part 1 B.7) instead of 32, an ECDSA signature in DER instead of P1363, and a
key other than the certificate's. Each must be refused with a stable code, store nothing, use no
number, and raise the alarm in /v1/status and at /metrics.
"""
from __future__ import annotations

import datetime as dt
import secrets

import aiohttp
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID, ObjectIdentifier

from daemon_fixtures import (
    SELLER_NIP,
    VALID_BODY,
    api_call,
    in_process_daemon,
    stored_invoices,
)
from ksef_edge.domain.kod2_check import Kod2SignatureError, verify_kod2_signature
from ksef_edge.domain.qr import verify_kod2_url
from official_vectors import TV2_SIGN_STRING, TV2_SIGNATURE, TV3_CERT_B64


def _cert(public_key, private_key) -> bytes:
    now = dt.datetime.now(dt.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kod2 test"),
                      x509.NameAttribute(ObjectIdentifier("2.5.4.97"), f"VATPL-{SELLER_NIP}"),
                      x509.NameAttribute(NameOID.COUNTRY_NAME, "PL")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(public_key)
            .serial_number(int.from_bytes(secrets.token_bytes(8), "big") >> 1 | 1 << 56)
            .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=365))
            .add_extension(x509.KeyUsage(False, True, False, False, False, False, False, False, False), critical=True)
            .sign(private_key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.DER)


class WrongSigner:
    """A signer whose certificate is right but whose signatures are not what KSeF verifies."""

    backend_name = "memory"
    warnings: tuple[str, ...] = ()

    def __init__(self, variant: str) -> None:
        self.variant = variant
        if variant == "rsa-max-salt":
            self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        else:
            self._key = ec.generate_private_key(ec.SECP256R1())
        cert_key = ec.generate_private_key(ec.SECP256R1()) if variant == "other-key" else self._key
        self.certificate_der = _cert(cert_key.public_key(), cert_key)
        self.certificate_serial = format(x509.load_der_x509_certificate(self.certificate_der).serial_number, "X").zfill(16)

    def sign(self, data: bytes) -> bytes:
        if self.variant == "rsa-max-salt":  # what some hardware TPMs do
            return self._key.sign(data, padding.PSS(mgf=padding.MGF1(hashes.SHA256()),
                                                    salt_length=padding.PSS.MAX_LENGTH), hashes.SHA256())
        der = self._key.sign(data, ec.ECDSA(hashes.SHA256()))
        if self.variant == "ec-der":
            return der
        from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
        r, s = decode_dss_signature(der)
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def test_official_tv3_kod2_signature_passes_the_self_check():
    import base64
    der = base64.b64decode(TV3_CERT_B64)
    sig = base64.urlsafe_b64decode(TV2_SIGNATURE + "=" * (-len(TV2_SIGNATURE) % 4))
    verify_kod2_signature(der, "01F20A5D352AE590", TV2_SIGN_STRING.encode(), sig)
    with pytest.raises(Kod2SignatureError, match="RSA-PSS SHA-256 salt 32"):
        verify_kod2_signature(der, "01F20A5D352AE590", ("https://" + TV2_SIGN_STRING).encode(), sig)


@pytest.mark.parametrize("variant", ["rsa-max-salt", "ec-der", "other-key"])
async def test_unverifiable_kod2_refuses_issuance_stores_nothing_and_raises_the_alarm(tmp_path, variant):
    async with in_process_daemon(tmp_path, signer=WrongSigner(variant)) as d:
        status, body = await api_call(d, "POST", "/v1/invoices", VALID_BODY, key="kod2-1")
        assert status == 503, body
        assert body["error"]["code"] == "kod2_signature_invalid", body
        message = body["error"]["message"]
        assert "KOD II" in message and "nie zużyto numeru" in message and d.signer.certificate_serial in message
        assert stored_invoices(d.files.db) == 0
        _, st = await api_call(d, "GET", "/v1/status")
        assert any(p["code"] == "kod2_signature_invalid" for p in st["problems"]), st["problems"]
        async with aiohttp.ClientSession() as http, http.get(d.base_url + "/metrics", headers=d.auth) as r:
            metrics = await r.text()
        assert 'ksef_edge_issue_refused_total{code="kod2_signature_invalid"} 1.0' in metrics


async def test_a_good_signer_after_the_alarm_issues_number_one(tmp_path):
    """No number was burnt by the refused attempts: the first good invoice gets sequence 1."""
    async with in_process_daemon(tmp_path) as d:
        good = d.signer
        d.daemon.state.issuer._signer = WrongSigner("rsa-max-salt")  # the device's key misbehaves...
        status, _ = await api_call(d, "POST", "/v1/invoices", VALID_BODY, key="a")
        assert status == 503
        d.daemon.state.issuer._signer = good  # ...and is fixed
        status, body = await api_call(d, "POST", "/v1/invoices", VALID_BODY, key="b")
        assert status == 201, body
        assert body["number"].endswith("000001") or body["number"].endswith("/1"), body["number"]
        assert verify_kod2_url(body["kod2_url"], x509.load_der_x509_certificate(good.certificate_der).public_key())
        _, st = await api_call(d, "GET", "/v1/status")
        assert not any(p["code"] == "kod2_signature_invalid" for p in st["problems"])
