"""`key generate` signs and verifies a probe before keeping a key: a key whose signatures KSeF would not
verify is refused at installation, not discovered at the buyer's scan (issue #17).

A hardware TPM may sign RSA-PSS with the maximum salt length (TCG TPM 2.0 Part 1 §B.7: 222 bytes for
RSA-2048 with SHA-256) where KSeF requires 32 (ksef-docs `kody-qr.md`). swtpm uses 32, real chips may
not. EC P-256 has no such parameter, hence the recommendation.
"""
from __future__ import annotations

import hashlib
import secrets

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from ..domain.kod2_check import Kod2SignatureError, verify_with_public_key
from .errors import KeystoreError

PROBE_PREFIX = b"ksef-edge key probe: qr-test.ksef.mf.gov.pl/certificate/Nip/"


class KeyProbeError(KeystoreError):
    """The new key signs in a way KSeF does not verify; the key was not kept."""


def pss_salt_length(public_key: rsa.RSAPublicKey, data: bytes, signature: bytes) -> int | None:
    """The salt length of an RSASSA-PSS (SHA-256, MGF1-SHA-256) signature (RFC 8017 §9.1.2), None if not PSS."""
    try:
        public_key.verify(signature, data, padding.PSS(mgf=padding.MGF1(hashes.SHA256()),
                                                       salt_length=padding.PSS.AUTO), hashes.SHA256())
    except (InvalidSignature, ValueError):
        return None
    nums = public_key.public_numbers()
    em_bits = public_key.key_size - 1
    em_len = (em_bits + 7) // 8
    em = pow(int.from_bytes(signature, "big"), nums.e, nums.n).to_bytes(em_len, "big")
    h_len = 32
    masked_db, h = em[: em_len - h_len - 1], em[em_len - h_len - 1 : -1]
    mask = b""
    counter = 0
    while len(mask) < len(masked_db):  # MGF1-SHA-256
        mask += hashlib.sha256(h + counter.to_bytes(4, "big")).digest()
        counter += 1
    db = bytearray(a ^ b for a, b in zip(masked_db, mask))
    db[0] &= 0xFF >> (8 * em_len - em_bits)
    one = db.find(b"\x01")
    return None if one < 0 else len(db) - one - 1


def probe_key(backend: object, *, backend_name: str) -> None:
    """Sign a random probe with `backend` and verify it as KSeF would; raise KeyProbeError if it fails."""
    data = PROBE_PREFIX + secrets.token_hex(16).encode()
    signature = backend.sign(data)  # type: ignore[attr-defined]
    public_key = backend.public_key()  # type: ignore[attr-defined]
    try:
        if not isinstance(public_key, (rsa.RSAPublicKey, ec.EllipticCurvePublicKey)):
            raise Kod2SignatureError("-", "the key is neither RSA nor EC P-256")
        verify_with_public_key(public_key, "-", data, signature)
    except Kod2SignatureError as exc:
        detail = exc.why
        if isinstance(public_key, rsa.RSAPublicKey):
            salt = pss_salt_length(public_key, data, signature)
            if salt is not None:
                detail = f"RSA-PSS salt of {salt} bytes, KSeF requires 32"
        raise KeyProbeError(
            "key_probe_failed",
            f"klucz w {backend_name} podpisuje inaczej, niż KSeF weryfikuje KOD II ({detail}); klucza nie zachowano. "
            "Wygeneruj klucz EC P-256: `ksef-edge key generate --algorithm ec`. / The new key's signatures would "
            f"not verify in KSeF ({detail}); the key was not kept. Use an EC key: `ksef-edge key generate "
            "--algorithm ec`.",
        ) from None


__all__ = ["KeyProbeError", "probe_key", "pss_salt_length"]
