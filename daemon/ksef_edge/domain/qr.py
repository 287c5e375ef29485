"""KOD I / KOD II verification links (protocol.md §6, ksef-docs `kody-qr.md`).

KOD I lets anyone check the invoice in KSeF; KOD II proves who issued an offline invoice: it carries
a signature, made with the taxpayer's KSeF *Offline* certificate key, over the link itself
(without `https://`). Hashes and signatures are Base64URL without padding; the API's
`invoiceHash` is standard Base64 of the same digest.
"""
from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import re
from enum import Enum
from urllib.parse import urlsplit

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from .errors import DomainError
from .signer import Signer

CONTEXT_TYPES = ("Nip", "InternalId", "NipVatUe", "PeppolId")  # KOD II ctxType (ksef-docs kody-qr.md)
_SERIAL = re.compile(r"[0-9A-F]{1,64}")
_NIP = re.compile(r"[1-9]((\d[1-9])|([1-9]\d))\d{7}")
_HASH_B64URL = re.compile(r"[A-Za-z0-9_-]{43}")
PSS_SALT_BYTES = 32


class QrEnvironment(str, Enum):
    TEST = "test"
    DEMO = "demo"
    PRD = "prd"

    @property
    def base(self) -> str:
        return {
            "test": "https://qr-test.ksef.mf.gov.pl",
            "demo": "https://qr-demo.ksef.mf.gov.pl",
            "prd": "https://qr.ksef.mf.gov.pl",
        }[self.value]

    @property
    def host(self) -> str:
        return self.base.removeprefix("https://")

    @classmethod
    def parse(cls, raw: str) -> "QrEnvironment":
        text = str(raw).strip().lower()
        aliases = {"te": "test", "tr": "demo", "prod": "prd", "production": "prd"}
        try:
            return cls(aliases.get(text, text))
        except ValueError:
            raise DomainError(f"unknown KSeF environment {raw!r}; use test, demo or prd") from None


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sha256_b64url(xml: bytes) -> str:
    """SHA-256 of the exact invoice file bytes, Base64URL without padding (43 chars)."""
    return b64url(hashlib.sha256(xml).digest())


def _check_nip(nip: str, what: str) -> None:
    if not isinstance(nip, str) or not _NIP.fullmatch(nip):
        raise DomainError(f"{what} {nip!r} is not a 10-digit NIP")


def _check_hash(hash_b64url: str) -> None:
    if not isinstance(hash_b64url, str) or not _HASH_B64URL.fullmatch(hash_b64url):
        raise DomainError(f"{hash_b64url!r} is not a Base64URL SHA-256 digest (43 chars, no padding)")


def kod1_url_for_hash(env: QrEnvironment, seller_nip: str, issue_date: dt.date, hash_b64url: str) -> str:
    """KOD I link from an already computed digest (e.g. one stored with the invoice)."""
    _check_nip(seller_nip, "seller NIP")
    _check_hash(hash_b64url)
    return f"{env.base}/invoice/{seller_nip}/{issue_date.strftime('%d-%m-%Y')}/{hash_b64url}"


def kod1_url(env: QrEnvironment, seller_nip: str, issue_date: dt.date, xml_bytes: bytes) -> str:
    """KOD I: `{base}/invoice/{sellerNIP}/{P_1 as DD-MM-YYYY}/{sha256 b64url}`."""
    return kod1_url_for_hash(env, seller_nip, issue_date, sha256_b64url(xml_bytes))


def kod2_sign_string(
    env: QrEnvironment, ctx_type: str, ctx_value: str, seller_nip: str, cert_serial: str, hash_b64url: str
) -> str:
    """The KOD II string to sign: the link without `https://` and without the signature."""
    if ctx_type not in CONTEXT_TYPES:
        raise DomainError(f"KOD II context type {ctx_type!r} is not one of {', '.join(CONTEXT_TYPES)}")
    if not ctx_value or "/" in ctx_value or any(c.isspace() for c in ctx_value):
        raise DomainError(f"KOD II context value {ctx_value!r} must be non-empty, without '/' or spaces")
    if ctx_type == "Nip":
        _check_nip(ctx_value, "context NIP")
    _check_nip(seller_nip, "seller NIP")
    if not isinstance(cert_serial, str) or not _SERIAL.fullmatch(cert_serial):
        raise DomainError(f"certificate serial {cert_serial!r} must be uppercase hex, e.g. 01F20A5D352AE590")
    _check_hash(hash_b64url)
    return f"{env.host}/certificate/{ctx_type}/{ctx_value}/{seller_nip}/{cert_serial}/{hash_b64url}"


def kod2_url_with_signature(sign_string: str, signature: bytes) -> str:
    return f"https://{sign_string}/{b64url(signature)}"


def kod2_url(
    env: QrEnvironment, ctx_type: str, ctx_value: str, seller_nip: str, xml_bytes: bytes, signer: Signer
) -> str:
    """KOD II link for the invoice bytes, signed by `signer` (the Offline certificate's key)."""
    sign_string = kod2_sign_string(
        env, ctx_type, ctx_value, seller_nip, signer.certificate_serial, sha256_b64url(xml_bytes)
    )
    return kod2_url_with_signature(sign_string, signer.sign(sign_string.encode("utf-8")))


def split_kod2_url(url: str) -> tuple[str, bytes]:
    """(string that was signed, raw signature) of a KOD II link; raises DomainError if malformed."""
    parts = urlsplit(url)
    segments = parts.path.split("/")
    # "", "certificate", ctxType, ctxValue, sellerNIP, serial, hash, signature
    if parts.scheme != "https" or len(segments) != 8 or segments[1] != "certificate" or parts.query:
        raise DomainError("not a KOD II link: expected https://{host}/certificate/{6 segments}")
    try:
        signature = b64url_decode(segments[7])
    except (binascii.Error, ValueError):
        raise DomainError("KOD II signature is not Base64URL") from None
    return f"{parts.netloc}{'/'.join(segments[:7])}", signature


def verify_kod2_url(url: str, public_key: object) -> bool:
    """True if the link's signature verifies with `public_key` (RSA-PSS or ECDSA P-256, P1363 or DER)."""
    try:
        sign_string, signature = split_kod2_url(url)
    except DomainError:
        return False
    data = sign_string.encode("utf-8")
    try:
        if isinstance(public_key, rsa.RSAPublicKey):
            public_key.verify(
                signature, data, padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=PSS_SALT_BYTES),
                hashes.SHA256(),
            )
            return True
        if isinstance(public_key, ec.EllipticCurvePublicKey):
            if not isinstance(public_key.curve, ec.SECP256R1):
                return False
            if len(signature) == 64:  # IEEE P1363 r||s
                r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
                signature = encode_dss_signature(r, s)
            public_key.verify(signature, data, ec.ECDSA(hashes.SHA256()))
            return True
    except (InvalidSignature, ValueError):
        return False
    return False
