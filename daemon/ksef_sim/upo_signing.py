"""Enveloped XAdES-BES signature on UPOs, made with a simulator certificate (signxml).

Real KSeF UPOs are XAdES-signed by MF; the XSD `upo-v4-3.xsd` has no slot for `ds:Signature`, so a
signed UPO is no longer valid against it as published: a client must validate it without the
signature (or accept it as KSeF sends it). The certificate is generated per simulator process (or
kept in the state directory) and is served at GET /admin/upo-certificate so tests can verify it.
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from lxml import etree
from signxml import DigestAlgorithm, SignatureMethod
from signxml.xades import XAdESSigner

CERT_FILE = "upo-signer.pem"


class UpoSigner:
    """Signs a UPO document in place of MF: ECDSA P-256 / SHA-256, XAdES-BES, enveloped."""

    def __init__(self, key: ec.EllipticCurvePrivateKey, cert: x509.Certificate) -> None:
        self.key = key
        self.cert = cert

    @classmethod
    def load_or_generate(cls, state_dir: Path | None, now: dt.datetime) -> "UpoSigner":
        path = state_dir / CERT_FILE if state_dir else None
        if path is not None and path.is_file():
            data = path.read_bytes()
            key = serialization.load_pem_private_key(data, None)
            if isinstance(key, ec.EllipticCurvePrivateKey):
                return cls(key, x509.load_pem_x509_certificate(data))
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "PL"),
                          x509.NameAttribute(NameOID.ORGANIZATION_NAME, "ksef-sim (nie Ministerstwo Finansów)"),
                          x509.NameAttribute(NameOID.COMMON_NAME, "ksef-sim UPO")])
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=3650))
                .add_extension(x509.KeyUsage(True, True, False, False, False, False, False, False, False), True)
                .sign(key, hashes.SHA256()))
        signer = cls(key, cert)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch(mode=0o600)
            path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()) + signer.cert_pem())
        return signer

    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def sign(self, xml: bytes) -> bytes:
        root = etree.fromstring(xml)
        signer = XAdESSigner(signature_algorithm=SignatureMethod.ECDSA_SHA256,
                             digest_algorithm=DigestAlgorithm.SHA256)
        signed = signer.sign(root, key=self.key, cert=[self.cert])
        return etree.tostring(signed, xml_declaration=True, encoding="utf-8")
