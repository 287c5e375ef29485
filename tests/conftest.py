"""Shared pytest fixtures. Keep each fixture small and documented; domain-specific helpers live
in their own modules (e.g. tpm_fixtures.py, sshd_fixtures.py)."""
from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from ksef_edge.domain.signer import InMemorySigner

from cert_factories import make_test_certificate

OFFICIAL_DIR = Path(__file__).parent / "fixtures" / "official"


@pytest.fixture(scope="session")
def official_dir() -> Path:
    """tests/fixtures/official: MF sample invoice, FA(3) template and UPO (see SOURCES.md there)."""
    return OFFICIAL_DIR


@pytest.fixture(scope="session")
def ec_signer() -> InMemorySigner:
    """An in-memory EC P-256 KOD II signer with a self-signed test certificate (serial 01F20A5D352AE591)."""
    key = ec.generate_private_key(ec.SECP256R1())
    return InMemorySigner(key, make_test_certificate(key))
