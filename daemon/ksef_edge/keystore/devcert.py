"""Test/demo certificates shaped like KSeF's, signed by a throwaway CA that nobody trusts.

Tests need an Offline-profile and an Authentication-profile certificate for the SAME key; KSeF's TEST
environment cannot be reached from CI. Never install these on a shop's device: KSeF does not know them,
so buyers' KOD II scans would fail.
"""
from __future__ import annotations

import secrets
from datetime import datetime, timedelta, timezone
from functools import lru_cache

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from .certificates import AUTHENTICATION, OFFLINE, UNKNOWN

_ORG_ID = x509.ObjectIdentifier("2.5.4.97")


@lru_cache(maxsize=1)
def _test_ca() -> tuple[ec.EllipticCurvePrivateKey, x509.Name]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "PL"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "ksef-edge tests"),
            x509.NameAttribute(NameOID.COMMON_NAME, "ksef-edge TEST CA (not KSeF)"),
        ]
    )
    return key, name


def random_ksef_serial() -> int:
    """A 64-bit serial, printed as 16 hex chars like KSeF's (leading zero nibble kept possible)."""
    return secrets.randbits(63) | 1


# KSeF certificates carry EC P-256 or RSA keys; a test may pass the private key or just its public half
TestKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ec.EllipticCurvePublicKey | rsa.RSAPublicKey
_PRIVATE_KEY_TYPES = (ec.EllipticCurvePrivateKey, rsa.RSAPrivateKey)


def make_test_certificate(
    key: TestKey,
    *,
    nip: str,
    kind: str = OFFLINE,
    serial: int | None = None,
    not_before: datetime | None = None,
    not_after: datetime | None = None,
    organization: str = "Sklep Testowy",
) -> bytes:
    """PEM certificate for `key` (private or public) with the KSeF subject layout and the `kind`'s key usage.

    kind: "Offline" (nonRepudiation), "Authentication" (digitalSignature), "Unknown" (both).
    """
    public = key.public_key() if isinstance(key, _PRIVATE_KEY_TYPES) else key
    now = datetime.now(timezone.utc)
    not_before = not_before or now - timedelta(days=1)
    not_after = not_after or not_before + timedelta(days=730)
    usage = {
        OFFLINE: dict(digital_signature=False, content_commitment=True),
        AUTHENTICATION: dict(digital_signature=True, content_commitment=False),
        UNKNOWN: dict(digital_signature=True, content_commitment=True),
    }[kind]
    ca_key, ca_name = _test_ca()
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "PL"),
            x509.NameAttribute(_ORG_ID, f"VATPL-{nip}"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
            x509.NameAttribute(NameOID.COMMON_NAME, nip),
        ]
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca_name)
        .public_key(public)
        .serial_number(serial if serial is not None else random_ksef_serial())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
                **usage,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM)
