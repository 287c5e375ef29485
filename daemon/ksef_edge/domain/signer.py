"""The seam between the invoice core and key custody.

KOD II needs one signature per invoice, made with the private key of the taxpayer's KSeF *Offline*
certificate. The core only knows this protocol; `ksef_edge.keystore` provides the file- and
TPM-backed implementations, and tests may use an in-memory key.
"""
from __future__ import annotations

from typing import Protocol, runtime_checkable


@runtime_checkable
class Signer(Protocol):
    """Signs KOD II strings in the format KSeF verifies.

    `sign` returns raw signature bytes: RSASSA-PSS (SHA-256, MGF1-SHA-256, salt 32) for RSA keys,
    IEEE P1363 r||s (64 bytes) for EC P-256 keys.
    """

    @property
    def certificate_serial(self) -> str:
        """KSeF certificate serial as used in KOD II: uppercase hex, 16 chars for KSeF certificates."""
        ...

    @property
    def certificate_der(self) -> bytes:
        """DER of the certificate whose key signs (so verifiers and tests can check signatures)."""
        ...

    def sign(self, data: bytes) -> bytes: ...
