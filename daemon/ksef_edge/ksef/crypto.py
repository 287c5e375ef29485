"""KSeF 2.0 client-side crypto (protocol.md §2.2, §3, §4.1).

RSA-OAEP with SHA-256 *and* MGF1-SHA-256 for both MF keys; AES-256-CBC/PKCS#7 for invoices and
batch parts with the IV sent separately (no IV prefix, as both official clients do).
"""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import os
from dataclasses import dataclass, field

from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.padding import PKCS7

from .errors import KsefProtocolError

USAGE_TOKEN = "KsefTokenEncryption"
USAGE_SYMMETRIC = "SymmetricKeyEncryption"


def sha256_b64(data: bytes) -> str:
    """SHA-256 in the API's form: standard Base64 with padding (44 chars)."""
    return base64.b64encode(hashlib.sha256(data).digest()).decode("ascii")


def _parse_dt(text: str) -> dt.datetime:
    value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)


@dataclass(frozen=True)
class MfPublicKey:
    """One entry of `GET /security/public-key-certificates`."""

    public_key_id: str
    usage: tuple[str, ...]
    valid_from: dt.datetime
    valid_to: dt.datetime
    certificate_der: bytes = field(repr=False)

    @classmethod
    def from_api(cls, item: dict) -> "MfPublicKey":
        try:
            return cls(
                public_key_id=str(item["publicKeyId"]),
                usage=tuple(item["usage"]),
                valid_from=_parse_dt(item["validFrom"]),
                valid_to=_parse_dt(item["validTo"]),
                certificate_der=base64.b64decode(item["certificate"], validate=True),  # never skip junk silently
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise KsefProtocolError(f"MF public key entry is malformed: {exc}") from exc

    def rsa_public_key(self) -> rsa.RSAPublicKey:
        # asn1crypto reads certificates that newer `cryptography` refuses (platform-notes trap 1).
        spki = asn1_x509.Certificate.load(self.certificate_der).public_key.dump()
        key = serialization.load_der_public_key(spki)
        if not isinstance(key, rsa.RSAPublicKey):
            raise KsefProtocolError("MF published a non-RSA key; this client only supports RSA-OAEP keys")
        return key


def pick_public_key(keys: list[MfPublicKey], usage: str, now: dt.datetime) -> MfPublicKey:
    """Filter by usage and validity, prefer the latest `validFrom` (protocol.md §3)."""
    valid = [k for k in keys if usage in k.usage and k.valid_from <= now <= k.valid_to]
    if not valid:
        raise KsefProtocolError(f"KSeF publishes no valid public key with usage {usage} at {now.isoformat()}")
    return max(valid, key=lambda k: k.valid_from)


def rsa_oaep_encrypt(key: MfPublicKey, plaintext: bytes) -> bytes:
    return key.rsa_public_key().encrypt(
        plaintext,
        padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None),
    )


def encrypt_ksef_token(key: MfPublicKey, token: str, timestamp_ms: int) -> str:
    """Base64(RSA-OAEP("{token}|{timestampMs}")) for `POST /auth/ksef-token`."""
    return base64.b64encode(rsa_oaep_encrypt(key, f"{token}|{timestamp_ms}".encode())).decode("ascii")


@dataclass(frozen=True)
class SymmetricKey:
    """Per-session AES-256 key and IV; `key` is a secret and stays out of repr."""

    key: bytes = field(repr=False)
    iv: bytes

    @classmethod
    def generate(cls) -> "SymmetricKey":
        return cls(os.urandom(32), os.urandom(16))

    def encrypt(self, data: bytes) -> bytes:
        padder = PKCS7(128).padder()
        padded = padder.update(data) + padder.finalize()
        enc = Cipher(algorithms.AES(self.key), modes.CBC(self.iv)).encryptor()
        return enc.update(padded) + enc.finalize()

    def decrypt(self, data: bytes) -> bytes:
        dec = Cipher(algorithms.AES(self.key), modes.CBC(self.iv)).decryptor()
        padded = dec.update(data) + dec.finalize()
        unpadder = PKCS7(128).unpadder()
        return unpadder.update(padded) + unpadder.finalize()

    def encryption_info(self, mf_key: MfPublicKey) -> dict[str, str]:
        """The `encryption` object of `POST /sessions/online|batch`."""
        return {
            "encryptedSymmetricKey": base64.b64encode(rsa_oaep_encrypt(mf_key, self.key)).decode("ascii"),
            "initializationVector": base64.b64encode(self.iv).decode("ascii"),
            "publicKeyId": mf_key.public_key_id,
        }
