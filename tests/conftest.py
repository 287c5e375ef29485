"""Shared pytest fixtures. Keep each fixture small and documented; domain-specific helpers live
in their own modules (e.g. tpm_fixtures.py, sshd_fixtures.py)."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ksef_edge.domain.signer import InMemorySigner

OFFICIAL_DIR = Path(__file__).parent / "fixtures" / "official"


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


@pytest.fixture(scope="session")
def official_dir() -> Path:
    """tests/fixtures/official: MF sample invoice, FA(3) template and UPO (see SOURCES.md there)."""
    return OFFICIAL_DIR


@pytest.fixture(scope="session")
def ec_signer() -> InMemorySigner:
    """An in-memory EC P-256 KOD II signer with a self-signed test certificate (serial 01F20A5D352AE591)."""
    key = ec.generate_private_key(ec.SECP256R1())
    return InMemorySigner(key, make_test_certificate(key))
