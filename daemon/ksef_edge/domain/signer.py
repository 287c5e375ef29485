"""The seam between the invoice core and key custody.

KOD II needs one signature per invoice, made with the private key of the taxpayer's KSeF *Offline*
certificate. The core only knows this protocol; `ksef_edge.keystore` provides the file- and
TPM-backed implementations, and tests/the dev demo use `InMemorySigner`.

Certificates are read with asn1crypto rather than `cryptography.x509`, because cryptography >= 49
refuses the certificates of the KSeF TEST CA (ecdsa-with-SHA512 with a NULL parameter,
platform-notes trap 1).
"""
from __future__ import annotations

from typing import Protocol, Union, runtime_checkable

from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from .errors import DomainError

PrivateKey = Union[ec.EllipticCurvePrivateKey, rsa.RSAPrivateKey]
PublicKey = Union[ec.EllipticCurvePublicKey, rsa.RSAPublicKey]


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


def _load_certificate(der: bytes) -> asn1_x509.Certificate:
    try:
        cert = asn1_x509.Certificate.load(bytes(der))
        cert.native  # force a full parse so garbage fails here, not later
    except (ValueError, TypeError) as exc:
        raise DomainError(f"not a DER X.509 certificate: {exc}") from None
    return cert


def certificate_serial_hex(der: bytes) -> str:
    """Serial as KSeF prints it: uppercase hex of the serial's bytes (01F20A5D352AE590)."""
    serial = _load_certificate(der).serial_number
    return serial.to_bytes(max(1, (serial.bit_length() + 7) // 8), "big").hex().upper()


def certificate_public_key(der: bytes) -> PublicKey:
    """The certificate's public key as a `cryptography` object, even for certificates it refuses."""
    spki = _load_certificate(der).public_key.dump()
    key = serialization.load_der_public_key(spki)
    if not isinstance(key, (ec.EllipticCurvePublicKey, rsa.RSAPublicKey)):
        raise DomainError("KOD II certificates carry RSA or EC P-256 keys only")
    return key


def _public_bytes(key: PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def sign_kod2(private_key: PrivateKey, data: bytes) -> bytes:
    """KOD II signature in the recommended wire form (RSA-PSS salt 32, or ECDSA P-256 as P1363)."""
    if isinstance(private_key, rsa.RSAPrivateKey):
        return private_key.sign(
            data, padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32), hashes.SHA256()
        )
    if isinstance(private_key, ec.EllipticCurvePrivateKey) and isinstance(private_key.curve, ec.SECP256R1):
        r, s = decode_dss_signature(private_key.sign(data, ec.ECDSA(hashes.SHA256())))
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")
    raise DomainError("KOD II keys must be RSA or EC P-256")


class InMemorySigner:
    """A `Signer` over a key object in memory (tests, the dev demo, a decrypted file key)."""

    def __init__(self, private_key: PrivateKey, certificate_der: bytes) -> None:
        if _public_bytes(private_key.public_key()) != _public_bytes(certificate_public_key(certificate_der)):
            raise DomainError("the private key does not belong to the certificate")
        self._key = private_key
        self._der = bytes(certificate_der)
        self._serial = certificate_serial_hex(certificate_der)

    @property
    def certificate_serial(self) -> str:
        return self._serial

    @property
    def certificate_der(self) -> bytes:
        return self._der

    def sign(self, data: bytes) -> bytes:
        return sign_kod2(self._key, data)

    def __repr__(self) -> str:  # never show key material
        return f"InMemorySigner(serial={self._serial})"
