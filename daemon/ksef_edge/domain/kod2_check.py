"""Verify each KOD II signature right after signing, with exactly the parameters KSeF verifies with.

A hardware TPM may sign RSA-PSS with the maximum salt length (TCG TPM 2.0 Part 1 §B.7; 222 bytes seen on
real chips) where KSeF requires 32 (ksef-docs `kody-qr.md`: RSASSA-PSS SHA-256, MGF1-SHA-256, salt 32;
ECDSA P-256 with SHA-256, signature as IEEE P1363 r||s). Such a KOD II looks fine on paper and fails at
every buyer's scan, so issuance checks before anything is stored. Cost: the public key object is
cached per certificate (parsing it is the expensive part); an ECDSA P-256 verify is ~0.1 ms, RSA-2048
~0.05 ms.
"""
from __future__ import annotations

from functools import lru_cache

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from .errors import DomainError
from .signer import PublicKey, certificate_public_key

KOD2_SIGNATURE_INVALID = "kod2_signature_invalid"
PSS_SALT_BYTES = 32
P1363_P256_BYTES = 64


class Kod2SignatureError(DomainError):
    """The signer produced a KOD II signature KSeF would not verify; nothing may be issued with it."""

    code = KOD2_SIGNATURE_INVALID

    def __init__(self, serial: str, why: str) -> None:
        self.serial = serial
        self.why = why
        super().__init__(
            f"Podpis kodu KOD II nie przechodzi weryfikacji certyfikatem {serial} ({why}); faktury nie wystawiono "
            "i nie zużyto numeru. Klucz lub moduł TPM podpisuje inaczej, niż wymaga KSeF: sprawdź urządzenie "
            "(`ksef-edge cert show`), a przy kluczu RSA w TPM wygeneruj klucz EC (`ksef-edge key generate --force "
            "--algorithm ec`) i nowy certyfikat Offline. / The KOD II signature does not verify with certificate "
            f"{serial} ({why}); nothing was issued and no number was used."
        )


@lru_cache(maxsize=8)
def _public_key(certificate_der: bytes) -> PublicKey:
    return certificate_public_key(certificate_der)


def verify_kod2_signature(certificate_der: bytes, serial: str, data: bytes, signature: bytes) -> None:
    """Raise Kod2SignatureError unless `signature` over `data` is what KSeF accepts for this certificate."""
    verify_with_public_key(_public_key(bytes(certificate_der)), serial, data, signature)


def verify_with_public_key(key: PublicKey, serial: str, data: bytes, signature: bytes) -> None:
    """The same check for a bare public key (`key generate` probes a key before it has a certificate)."""
    try:
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, data, padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=PSS_SALT_BYTES),
                       hashes.SHA256())
            return
        if isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1):
            if len(signature) != P1363_P256_BYTES:
                raise Kod2SignatureError(serial, f"ECDSA signature of {len(signature)} bytes, KSeF expects P1363 r||s "
                                                 f"of {P1363_P256_BYTES}")
            r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
            key.verify(encode_dss_signature(r, s), data, ec.ECDSA(hashes.SHA256()))
            return
    except InvalidSignature:
        kind = "RSA-PSS SHA-256 salt 32" if isinstance(key, rsa.RSAPublicKey) else "ECDSA P-256 SHA-256"
        raise Kod2SignatureError(serial, f"{kind} verification failed") from None
    except ValueError as exc:
        raise Kod2SignatureError(serial, f"malformed signature: {exc}") from None
    raise Kod2SignatureError(serial, "the certificate's key is neither RSA nor EC P-256")
