"""TLS for the POS API on the shop's LAN: the device's own certificate, its fingerprint, the server context.

WHY: a POS on another computer sends the bearer token and every buyer's NIP over the shop's Wi-Fi.
The device makes its own key and self-signed certificate (no CA is needed: the POS pins the SHA-256
fingerprint, shown by `ksef-edge tls show` and printed on the setup receipt), or installs one the
shop's CA issued (`ksef-edge tls install`).
"""
from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import os
import ssl
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CERT_DAYS = 3650  # the POS pins the fingerprint: a renewal means re-pinning every till


class TlsError(Exception):
    """The TLS key or certificate cannot be used; the message says what to do."""


def _san(names: list[str]) -> x509.SubjectAlternativeName:
    entries: list[x509.GeneralName] = []
    for name in names:
        try:
            entries.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            entries.append(x509.DNSName(name))
    return x509.SubjectAlternativeName(entries)


def create_device_certificate(key_path: Path, cert_path: Path, names: list[str], *, force: bool = False) -> str:
    """A new EC P-256 key (0600) and a self-signed server certificate for `names`; returns its fingerprint."""
    if cert_path.exists() and not force:
        raise TlsError(f"{cert_path} exists; the tills pin its fingerprint. Use --force to replace it")
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0] if names else "ksef-edge")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject).issuer_name(subject).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=CERT_DAYS))
        .add_extension(_san(names or ["localhost"]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = key_path.with_name(key_path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    os.replace(tmp, key_path)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return fingerprint(cert_path)


def install_certificate(cert_src: Path, key_src: Path, key_path: Path, cert_path: Path) -> str:
    """A certificate from the shop's CA and its key; refused when they do not belong together."""
    try:
        cert = x509.load_pem_x509_certificate(cert_src.read_bytes())
        key = serialization.load_pem_private_key(key_src.read_bytes(), password=None)
    except (OSError, ValueError) as exc:
        raise TlsError(f"cannot read the certificate or key: {exc}") from None
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    if cert.public_key().public_bytes(serialization.Encoding.DER, spki) != \
            key.public_key().public_bytes(serialization.Encoding.DER, spki):
        raise TlsError(f"the key {key_src} does not belong to the certificate {cert_src}")
    key_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key_src.read_bytes())
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return fingerprint(cert_path)


def fingerprint(cert_path: Path) -> str:
    """SHA-256 of the certificate (DER), as `AB:CD:...` — what a POS pins."""
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    except (OSError, ValueError) as exc:
        raise TlsError(f"cannot read the TLS certificate {cert_path}: {exc}") from None
    digest = hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest().upper()
    return ":".join(digest[i:i + 2] for i in range(0, len(digest), 2))


def server_context(cert_path: Path, key_path: Path) -> ssl.SSLContext:
    """TLS 1.2+ server context for the API listener."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(str(cert_path), str(key_path))
    except (OSError, ssl.SSLError) as exc:
        raise TlsError(f"cannot load the TLS certificate {cert_path} with key {key_path}: {exc}; "
                       "create one with `ksef-edge tls init`") from None
    return context
