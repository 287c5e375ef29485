"""Shared pytest fixtures. Keep each fixture small and documented; domain-specific helpers live
in their own modules (e.g. tpm_fixtures.py, sshd_fixtures.py)."""
from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from cert_factories import make_test_certificate
from ksef_edge.domain.signer import InMemorySigner

# Fixture modules shared by many test files: registered here once, so no test module imports a fixture
# (an imported fixture looks unused to a linter and is shadowed by the test parameter of the same name).
pytest_plugins = ("archive_helpers", "daemon_fixtures", "sim_fixtures", "sshd_fixtures", "tpm_fixtures", "uplink_fixtures")

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
