"""Self-signed test certificates shaped like KSeF ones, for tests that need a signer without a keystore.

Kept out of conftest.py: tests import it by name, and `conftest` is ambiguous once subfolders have their own.
"""
from __future__ import annotations

import datetime as dt

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def make_test_certificate(key: ec.EllipticCurvePrivateKey, *, nip: str = "5265877635",
                          serial: int = 0x01F20A5D352AE591) -> bytes:
    """DER of a self-signed certificate shaped like a KSeF Offline one (EC P-256, 16-hex serial)."""
    name = x509.Name([
        x509.NameAttribute(NameOID.COMMON_NAME, nip),
        x509.NameAttribute(NameOID.ORGANIZATION_IDENTIFIER, f"VATPL-{nip}"),
        x509.NameAttribute(NameOID.COUNTRY_NAME, "PL"),
    ])
    now = dt.datetime(2025, 9, 1, tzinfo=dt.timezone.utc)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(serial).not_valid_before(now).not_valid_after(now + dt.timedelta(days=730))
        .add_extension(x509.KeyUsage(False, True, False, False, False, False, False, False, False), critical=True)
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.DER)
