"""The simulator's own "Ministerstwo Finansów" RSA key pairs and X.509 certificates
(GET /security/public-key-certificates, protocol.md §3), and RSA-OAEP decryption with them."""
from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from .clock import iso

TOKEN_USAGE = "KsefTokenEncryption"
SYMMETRIC_USAGE = "SymmetricKeyEncryption"
OAEP = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)


class UnknownKeyError(Exception):
    """publicKeyId that names no current key (KSeF answers 400 21470)."""


@dataclass
class MfKey:
    usage: str
    private_key: rsa.RSAPrivateKey
    certificate: x509.Certificate

    @property
    def certificate_der(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.DER)

    @property
    def public_key_id(self) -> str:
        spki = self.certificate.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return base64.b64encode(hashlib.sha256(spki).digest()).decode("ascii")

    def to_api(self) -> dict:
        der = self.certificate_der
        return {
            "certificate": base64.b64encode(der).decode("ascii"),
            "certificateId": base64.b64encode(hashlib.sha256(der).digest()).decode("ascii"),
            "publicKeyId": self.public_key_id,
            "validFrom": iso(self.certificate.not_valid_before_utc),
            "validTo": iso(self.certificate.not_valid_after_utc),
            "usage": [self.usage],
        }


def _make_key(usage: str, now: datetime) -> MfKey:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([
        x509.NameAttribute(NameOID.COUNTRY_NAME, "PL"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "ksef-sim"),
        x509.NameAttribute(NameOID.COMMON_NAME, "Ministerstwo Finansów"),
    ])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=730))
        .add_extension(x509.KeyUsage(
            digital_signature=False, content_commitment=False, key_encipherment=True,
            data_encipherment=True, key_agreement=False, key_cert_sign=False, crl_sign=False,
            encipher_only=False, decipher_only=False), critical=True)
        .sign(key, hashes.SHA256())
    )
    return MfKey(usage, key, cert)


class KeyRing:
    """Current key per usage; persisted as PEM files when the simulator has a state directory."""

    def __init__(self, keys: list[MfKey]) -> None:
        self.keys = keys

    @classmethod
    def generate(cls, now: datetime) -> "KeyRing":
        return cls([_make_key(TOKEN_USAGE, now), _make_key(SYMMETRIC_USAGE, now)])

    @classmethod
    def load_or_generate(cls, directory: Path | None, now: datetime) -> "KeyRing":
        if directory is None:
            return cls.generate(now)
        keys = []
        for usage in (TOKEN_USAGE, SYMMETRIC_USAGE):
            key_path, cert_path = directory / f"{usage}.key.pem", directory / f"{usage}.cert.pem"
            if key_path.exists() and cert_path.exists():
                private = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
                cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
                keys.append(MfKey(usage, private, cert))  # type: ignore[arg-type]
            else:
                keys.append(_make_key(usage, now))
        ring = cls(keys)
        ring.save(directory)
        return ring

    def save(self, directory: Path | None) -> None:
        if directory is None:
            return
        for key in self.keys:
            key_path = directory / f"{key.usage}.key.pem"
            key_path.write_bytes(key.private_key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
            key_path.chmod(0o600)
            (directory / f"{key.usage}.cert.pem").write_bytes(
                key.certificate.public_bytes(serialization.Encoding.PEM))

    def rotate(self, now: datetime) -> None:
        """Emergency rotation: the old keys disappear, their publicKeyId becomes unknown (21470)."""
        self.keys = [_make_key(k.usage, now) for k in self.keys]

    def for_usage(self, usage: str) -> MfKey:
        return next(k for k in self.keys if k.usage == usage)

    def decrypt(self, usage: str, ciphertext: bytes, public_key_id: str | None) -> bytes:
        """RSA-OAEP (SHA-256, MGF1-SHA-256) with the key of `usage`; ValueError if it does not decrypt."""
        key = self.for_usage(usage)
        if public_key_id is not None and public_key_id != key.public_key_id:
            raise UnknownKeyError(public_key_id)
        return key.private_key.decrypt(ciphertext, OAEP)

    def to_api(self) -> list[dict]:
        return [k.to_api() for k in self.keys]
