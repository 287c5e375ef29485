"""KOD II signature formats and the Signer the invoice core receives.

KSeF verifies KOD II as RSASSA-PSS (SHA-256, MGF1-SHA-256, salt 32) for RSA keys and ECDSA P-256 /
SHA-256 for EC keys, where IEEE P1363 r||s (64 bytes) is the recommended encoding (protocol.md §6.2).
"""
from __future__ import annotations

import threading
from typing import Protocol, Union

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from .certificates import CertificateInfo, PublicKey

PrivateKey = Union[ec.EllipticCurvePrivateKey, rsa.RSAPrivateKey]

PSS_SALT_LENGTH = 32
P256_FIELD_BYTES = 32


def pss_padding() -> padding.PSS:
    return padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=PSS_SALT_LENGTH)


def p1363_from_der(der_signature: bytes) -> bytes:
    r, s = decode_dss_signature(der_signature)
    return r.to_bytes(P256_FIELD_BYTES, "big") + s.to_bytes(P256_FIELD_BYTES, "big")


def sign_kod2(private_key: PrivateKey, data: bytes) -> bytes:
    """Sign with a `cryptography` private key in the format KSeF verifies."""
    if isinstance(private_key, ec.EllipticCurvePrivateKey):
        if not isinstance(private_key.curve, ec.SECP256R1):
            raise ValueError("KSeF accepts only EC P-256 keys")
        return p1363_from_der(private_key.sign(data, ec.ECDSA(hashes.SHA256())))
    if isinstance(private_key, rsa.RSAPrivateKey):
        return private_key.sign(data, pss_padding(), hashes.SHA256())
    raise TypeError(f"unsupported key type {type(private_key).__name__}")


class KeyBackend(Protocol):
    """A private key in custody: signs in KSeF format and never hands out key material."""

    name: str  # "file" or "tpm"

    def public_key(self) -> PublicKey: ...

    def sign(self, data: bytes) -> bytes: ...

    def csr_private_key(self) -> PrivateKey:
        """A `cryptography` private-key object (possibly TPM-backed) for building a CSR."""
        ...

    def close(self) -> None: ...


class CertifiedSigner:
    """The `domain.signer.Signer` implementation: a checked certificate plus the key in custody.

    Only `keystore.open_signer` makes these, after every certificate check passed. Signing is
    serialised because a TPM context is not thread-safe.
    """

    def __init__(self, backend: KeyBackend, certificate: CertificateInfo, warnings: list[str]) -> None:
        self._backend = backend
        self._certificate = certificate
        self._lock = threading.Lock()
        self.warnings: tuple[str, ...] = tuple(warnings)

    @property
    def certificate_serial(self) -> str:
        return self._certificate.serial

    @property
    def certificate_der(self) -> bytes:
        return self._certificate.der

    @property
    def certificate(self) -> CertificateInfo:
        return self._certificate

    @property
    def backend_name(self) -> str:
        return self._backend.name

    def sign(self, data: bytes) -> bytes:
        with self._lock:
            return self._backend.sign(data)

    def close(self) -> None:
        with self._lock:
            self._backend.close()

    def __enter__(self) -> "CertifiedSigner":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"CertifiedSigner(backend={self.backend_name!r}, serial={self.certificate_serial!r})"
