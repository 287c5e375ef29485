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


def make_identity_certificate(public_key: object, *, identity: str, kind: str = "Offline") -> bytes:
    """PEM of a KSeF-like certificate whose subject is not the seller, signed by a throwaway CA.

    identity: "pesel" (a person enrolled via Profil Zaufany: serialNumber=PNOPL-<PESEL>, GN/SN/CN),
    "other-nip" (VATPL-1111111111), "no-nip" (CN only). kind: Offline (nonRepudiation) or Authentication.
    """
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ksef-edge TEST CA (not KSeF)")])
    attrs = {
        "pesel": [x509.NameAttribute(NameOID.GIVEN_NAME, "Jan"), x509.NameAttribute(NameOID.SURNAME, "Kowalski"),
                  x509.NameAttribute(NameOID.SERIAL_NUMBER, "PNOPL-90010112345"),
                  x509.NameAttribute(NameOID.COMMON_NAME, "Jan Kowalski"), x509.NameAttribute(NameOID.COUNTRY_NAME, "PL")],
        "other-nip": [x509.NameAttribute(NameOID.COMMON_NAME, "1111111111"),
                      x509.NameAttribute(NameOID.ORGANIZATION_IDENTIFIER, "VATPL-1111111111"),
                      x509.NameAttribute(NameOID.COUNTRY_NAME, "PL")],
        "no-nip": [x509.NameAttribute(NameOID.COMMON_NAME, "Kasa 1"), x509.NameAttribute(NameOID.COUNTRY_NAME, "PL")],
    }[identity]
    now = dt.datetime.now(dt.timezone.utc)
    offline = kind == "Offline"
    cert = (
        x509.CertificateBuilder().subject_name(x509.Name(attrs)).issuer_name(ca).public_key(public_key)  # type: ignore[arg-type]
        .serial_number(0x01F20A5D352AE5A0).not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=365))
        .add_extension(x509.KeyUsage(not offline, offline, False, False, False, False, False, False, False), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM)
