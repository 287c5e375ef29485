"""Add an enveloped XML signature to an official UPO example, as KSeF signs real UPOs (XAdES, enveloped).

The key and certificate are made here for the tests only (no MF key exists outside MF); signxml signs with
RSA-SHA256 and puts `ds:Signature` as the last child of `Potwierdzenie`, where KSeF puts it.
"""
from __future__ import annotations

import datetime as dt
from functools import lru_cache

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from lxml import etree
from signxml import methods
from signxml.xades import XAdESSigner


@lru_cache(maxsize=1)
def test_upo_signer() -> tuple[bytes, bytes]:
    """(private key PEM, certificate PEM) of a throwaway 'UPO signer' (test-only, not MF's)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "PL"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "ksef-edge tests (not MF)"),
                      x509.NameAttribute(NameOID.COMMON_NAME, "UPO test signer")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.KeyUsage(True, True, False, False, False, False, False, False, False), critical=True)
            .sign(key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return key_pem, cert.public_bytes(serialization.Encoding.PEM)


def sign_upo(xml: bytes) -> bytes:
    """The UPO with an enveloped XAdES-BES signature appended to its root (UTF-8, with declaration)."""
    key_pem, cert_pem = test_upo_signer()
    root = etree.fromstring(xml)
    signed = XAdESSigner(method=methods.enveloped).sign(root, key=key_pem, cert=cert_pem)
    return etree.tostring(signed, xml_declaration=True, encoding="UTF-8")
