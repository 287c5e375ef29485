"""PKCS#10 certificate requests for KSeF's Offline certificate enrolment (protocol.md §7).

KSeF returns the subject attributes to use (GET /certificates/enrollments/data) and wants them
*unchanged*; the CSR is DER (sent Base64 in POST /certificates/enrollments). RDN order and string
types follow the official client (CN, SN, GN, O, 2.5.4.97, C, serialNumber, 2.5.4.45; C and
serialNumber PrintableString, the rest UTF8String). The CSR is signed by the key in custody (TPM or
file); an RSA key signs with PSS, which KSeF accepts, because the TPM key is bound to PSS.
"""
from __future__ import annotations

from dataclasses import dataclass, fields

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from .errors import KeystoreError
from .signing import KeyBackend


@dataclass(frozen=True)
class CsrSubject:
    """Subject fields as named by KSeF's `GET /certificates/enrollments/data` response."""

    commonName: str
    countryName: str = "PL"
    surname: str | None = None
    givenName: str | None = None
    organizationName: str | None = None
    organizationIdentifier: str | None = None
    serialNumber: str | None = None
    uniqueIdentifier: str | None = None

    @classmethod
    def from_enrollment_data(cls, data: dict) -> "CsrSubject":
        known = {f.name for f in fields(cls)}
        values = {k: str(v) for k, v in data.items() if k in known and v not in (None, "")}
        if "commonName" not in values:
            raise KeystoreError("bad_subject", "the enrolment data has no commonName; pass the JSON KSeF returned")
        return cls(**values)

    @classmethod
    def for_company(cls, *, nip: str, organization: str, common_name: str | None = None) -> "CsrSubject":
        return cls(
            commonName=common_name or organization,
            organizationName=organization,
            organizationIdentifier=f"VATPL-{nip}",
        )


# (field, OID) in the official client's RDN order. cryptography's default string types already match
# it: PrintableString for C and serialNumber, UTF8String for the rest.
_ORDER = (
    ("commonName", "2.5.4.3"),
    ("surname", "2.5.4.4"),
    ("givenName", "2.5.4.42"),
    ("organizationName", "2.5.4.10"),
    ("organizationIdentifier", "2.5.4.97"),
    ("countryName", "2.5.4.6"),
    ("serialNumber", "2.5.4.5"),
    ("uniqueIdentifier", "2.5.4.45"),
)


def subject_name(subject: CsrSubject) -> x509.Name:
    attrs = []
    for name, oid in _ORDER:
        value = getattr(subject, name)
        if value:
            attrs.append(x509.NameAttribute(x509.ObjectIdentifier(oid), value))
    try:
        return x509.Name(attrs)
    except ValueError as exc:
        raise KeystoreError("bad_subject", f"invalid certificate subject field: {exc}") from None


def make_csr(backend: KeyBackend, subject: CsrSubject) -> bytes:
    """DER PKCS#10 signed by the key in custody (the private key never leaves the backend)."""
    key = backend.csr_private_key()
    builder = x509.CertificateSigningRequestBuilder().subject_name(subject_name(subject))
    if isinstance(key, rsa.RSAPrivateKey):
        pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.DIGEST_LENGTH)
        csr = builder.sign(key, hashes.SHA256(), rsa_padding=pss)
    else:
        csr = builder.sign(key, hashes.SHA256())
    return csr.public_bytes(serialization.Encoding.DER)
