"""Reading KSeF certificates and deciding whether one may sign KOD II on this device.

Loading is tolerant: `cryptography` first, `asn1crypto` when `cryptography` refuses. The KSeF TEST CA
signs with `ecdsa-with-SHA512` carrying an explicit NULL parameter, which `cryptography` >= 49 rejects
(platform-notes trap 1; test-vectors TV-3), yet the shop must be able to use the certificate KSeF gave it.

Certificate type rule (protocol.md §7: Authentication = keyUsage digitalSignature, Offline = keyUsage
nonRepudiation):
- nonRepudiation without digitalSignature -> "Offline";
- digitalSignature without nonRepudiation -> "Authentication";
- anything else -> "Unknown" (not a KSeF profile).
The operator's declared type (`cert install --type`) can only narrow this: an Authentication
certificate is refused even if declared Offline (KSeF fixes the type at issuance; a declaration
cannot change what the certificate is), a declared Authentication is refused, and an "Unknown"
certificate is accepted only when declared Offline (with a warning).
"""
from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Union

from asn1crypto import pem as asn1_pem
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

from .errors import CertificateError

PublicKey = Union[ec.EllipticCurvePublicKey, rsa.RSAPublicKey]

OFFLINE = "Offline"
AUTHENTICATION = "Authentication"
UNKNOWN = "Unknown"
CERTIFICATE_TYPES = (OFFLINE, AUTHENTICATION)

EXPIRY_WARNING_DAYS = 30

# Short names for the subject attributes KSeF puts in its certificates (protocol.md §7); other OIDs
# are shown dotted, as in RFC 4514 (so the TV-3 subject reads `CN=...,O=...,2.5.4.97=VATPL-...,C=PL`).
_ATTR_NAMES = {
    "2.5.4.3": "CN",
    "2.5.4.4": "SN",
    "2.5.4.42": "GN",
    "2.5.4.10": "O",
    "2.5.4.11": "OU",
    "2.5.4.6": "C",
    "2.5.4.7": "L",
    "2.5.4.8": "ST",
    "2.5.4.5": "serialNumber",
}
OID_ORGANIZATION_IDENTIFIER = "2.5.4.97"
OID_SERIAL_NUMBER = "2.5.4.5"
OID_COMMON_NAME = "2.5.4.3"

_NIP_IN_ATTR = re.compile(r"^(?:VATPL-|TINPL-|NIP[-:]?\s*|PL)?(\d{10})$")

HOW_TO_GET_OFFLINE = (
    "Get an Offline certificate: in the KSeF taxpayer application open 'Moduł certyfikatów' and request a "
    "certificate of type 'Offline' for this device's key (or call POST /certificates/enrollments with "
    "certificateType 'Offline' and the CSR from `ksef-edge key csr`), then install it with "
    "`ksef-edge cert install FILE`."
)


@dataclass(frozen=True)
class CertificateInfo:
    """What the daemon needs from a certificate, whichever parser read it."""

    serial: str  # KSeF format: uppercase hex, zero-padded to 16 chars
    serial_int: int
    subject: str  # RFC 4514 order, e.g. CN=5265877635,O=Beta,2.5.4.97=VATPL-5265877635,C=PL
    subject_attributes: tuple[tuple[str, str], ...]  # (dotted OID, value) in certificate order
    issuer: str
    nip: str | None
    not_before: datetime  # aware UTC
    not_after: datetime  # aware UTC
    key_usage: frozenset[str]  # asn1crypto names: digital_signature, non_repudiation, ...
    kind: str  # Offline | Authentication | Unknown (see module docstring)
    public_key: PublicKey = field(repr=False, compare=False)
    der: bytes = field(repr=False)
    parsed_by: str = "cryptography"  # or "asn1crypto" (tolerant fallback)

    @property
    def key_description(self) -> str:
        if isinstance(self.public_key, ec.EllipticCurvePublicKey):
            return f"EC {self.public_key.curve.name}"
        return f"RSA {self.public_key.key_size}"


def format_serial(serial: int) -> str:
    """KSeF serial: uppercase hex, zero-padded to 16 chars (`01F20A5D352AE590`); longer serials unpadded."""
    if serial < 0:
        raise CertificateError("bad_serial", "the certificate has a negative serial number; it is not a KSeF certificate")
    return format(serial, "X").zfill(16)


def certificate_der(data: bytes) -> bytes:
    """DER from PEM, DER, or bare Base64 DER (the form KSeF's API returns in `certificate`)."""
    if data[:1] == b"\x30":  # DER SEQUENCE; never strip DER (trailing bytes may be content)
        return data
    stripped = data.strip()
    if not stripped:
        raise CertificateError("unreadable_certificate", "the certificate file is empty")
    if asn1_pem.detect(stripped):
        try:
            kind, _headers, der = asn1_pem.unarmor(stripped)
        except ValueError as exc:
            raise CertificateError("unreadable_certificate", f"the certificate PEM is damaged ({exc})") from None
        if kind != "CERTIFICATE":
            raise CertificateError(
                "unreadable_certificate",
                f"the file holds a '{kind}', not a certificate; install the certificate file KSeF issued",
            )
        return der
    try:
        return base64.b64decode(b"".join(stripped.split()), validate=True)
    except (binascii.Error, ValueError):
        raise CertificateError(
            "unreadable_certificate", "the file is neither a PEM nor a DER certificate; install the file KSeF issued"
        ) from None


def load_certificate(data: bytes) -> CertificateInfo:
    """Read a certificate (PEM, DER or Base64 DER). Raises CertificateError if no parser can read it."""
    der = certificate_der(data)
    try:
        cert = x509.load_der_x509_certificate(der)
        return _from_cryptography(cert, der)
    except ValueError:
        pass  # e.g. TV-3: cryptography >= 49 refuses the KSeF TEST CA signature algorithm encoding
    try:
        return _from_asn1crypto(der)
    except CertificateError:
        raise
    except Exception as exc:  # asn1crypto parses lazily and raises assorted errors on garbage
        raise CertificateError(
            "unreadable_certificate",
            f"the certificate cannot be read ({type(exc).__name__}); install the file KSeF issued (PEM or DER)",
        ) from None


def _from_cryptography(cert: x509.Certificate, der: bytes) -> CertificateInfo:
    try:
        ku = cert.extensions.get_extension_for_class(x509.KeyUsage).value
        usage = {
            name
            for name, flag in (
                ("digital_signature", ku.digital_signature),
                ("non_repudiation", ku.content_commitment),
                ("key_encipherment", ku.key_encipherment),
                ("data_encipherment", ku.data_encipherment),
                ("key_agreement", ku.key_agreement),
                ("key_cert_sign", ku.key_cert_sign),
                ("crl_sign", ku.crl_sign),
            )
            if flag
        }
    except x509.ExtensionNotFound:
        usage = set()
    subject = tuple((a.oid.dotted_string, str(a.value)) for rdn in cert.subject.rdns for a in rdn)
    issuer = tuple((a.oid.dotted_string, str(a.value)) for rdn in cert.issuer.rdns for a in rdn)
    public_key = cert.public_key()
    return _info(
        serial_int=cert.serial_number,
        subject=subject,
        issuer=issuer,
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        usage=frozenset(usage),
        public_key=public_key,
        der=der,
        parsed_by="cryptography",
    )


def _from_asn1crypto(der: bytes) -> CertificateInfo:
    cert = asn1_x509.Certificate.load(der, strict=True)
    tbs = cert["tbs_certificate"]
    usage_value = cert.key_usage_value
    usage = frozenset(usage_value.native) if usage_value is not None else frozenset()
    spki_der = tbs["subject_public_key_info"].dump()
    public_key = serialization.load_der_public_key(spki_der)
    validity = tbs["validity"]
    return _info(
        serial_int=int(tbs["serial_number"].native),
        subject=_asn1_name(tbs["subject"]),
        issuer=_asn1_name(tbs["issuer"]),
        not_before=validity["not_before"].native.astimezone(timezone.utc),
        not_after=validity["not_after"].native.astimezone(timezone.utc),
        usage=usage,
        public_key=public_key,
        der=der,
        parsed_by="asn1crypto",
    )


def _asn1_name(name: asn1_x509.Name) -> tuple[tuple[str, str], ...]:
    return tuple(
        (atv["type"].dotted, str(atv["value"].native)) for rdn in name.chosen for atv in rdn
    )


Name = tuple[tuple[str, str], ...]  # (OID dotted string, value) per attribute, in certificate order


def _info(*, serial_int: int, subject: Name, issuer: Name, not_before: datetime, not_after: datetime,
          usage: frozenset[str], public_key: PublicKeyTypes, der: bytes, parsed_by: str) -> CertificateInfo:
    if not isinstance(public_key, (ec.EllipticCurvePublicKey, rsa.RSAPublicKey)):
        raise CertificateError(
            "unsupported_key",
            "the certificate's key is neither EC P-256 nor RSA; KSeF Offline certificates use one of those",
        )
    return CertificateInfo(
        serial=format_serial(serial_int),
        serial_int=serial_int,
        subject=format_name(subject),
        subject_attributes=subject,
        issuer=format_name(issuer),
        nip=nip_from_subject(subject),
        not_before=not_before,
        not_after=not_after,
        key_usage=usage,
        kind=kind_from_key_usage(usage),
        public_key=public_key,
        der=der,
        parsed_by=parsed_by,
    )


def format_name(attrs: tuple[tuple[str, str], ...]) -> str:
    """RFC 4514 string (last RDN first), with the short names KSeF documents use."""
    parts = [f"{_ATTR_NAMES.get(oid, oid)}={_escape(value)}" for oid, value in reversed(attrs)]
    return ",".join(parts)


def _escape(value: str) -> str:
    out = re.sub(r'([,+"\\<>;])', r"\\\1", value)
    if out.startswith((" ", "#")):
        out = "\\" + out
    if out.endswith(" "):
        out = out[:-1] + "\\ "
    return out


def nip_from_subject(attrs: tuple[tuple[str, str], ...]) -> str | None:
    """NIP from organizationIdentifier (VATPL-<nip>), else serialNumber, else a 10-digit CN."""
    for wanted in (OID_ORGANIZATION_IDENTIFIER, OID_SERIAL_NUMBER, OID_COMMON_NAME):
        for oid, value in attrs:
            if oid == wanted:
                m = _NIP_IN_ATTR.match(value.strip().replace("-", "") if wanted == OID_COMMON_NAME else value.strip())
                if m:
                    return m.group(1)
    return None


def kind_from_key_usage(usage: frozenset[str]) -> str:
    nr = "non_repudiation" in usage
    ds = "digital_signature" in usage
    if nr and not ds:
        return OFFLINE
    if ds and not nr:
        return AUTHENTICATION
    return UNKNOWN


def normalize_certificate_type(declared: str | None) -> str | None:
    """'offline' -> 'Offline'; raises for anything that is not a KSeF certificate type."""
    if declared is None or declared == "":
        return None
    for t in CERTIFICATE_TYPES:
        if declared.strip().lower() == t.lower():
            return t
    raise CertificateError(
        "bad_declared_type", f"certificate type {declared!r} is not a KSeF type; use 'Offline' (or 'Authentication')"
    )


def _public_der(key: PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def check_offline_certificate(
    info: CertificateInfo,
    *,
    seller_nip: str,
    public_key_of_private_key: PublicKey,
    now: datetime,
    declared_type: str | None = None,
) -> list[str]:
    """Refuse (CertificateError) a certificate that cannot sign this shop's KOD II; return warnings.

    Checks, in the order a shop owner can act on them: type, validity, key match. The subject is an
    identity, not a permission (ksef-docs `certyfikaty-KSeF.md`: KSeF certificates are bound to no
    context; `kody-qr.md` shows a person's certificate signing KOD II for a company): a person (PESEL),
    another NIP or no NIP is accepted with a warning, because KSeF checks that identity's permissions.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    warnings: list[str] = []
    declared = normalize_certificate_type(declared_type)
    if declared == AUTHENTICATION or info.kind == AUTHENTICATION:
        why = (
            "it is marked for logging in (keyUsage digitalSignature)"
            if info.kind == AUTHENTICATION
            else "it was declared as type Authentication"
        )
        raise CertificateError(
            "authentication_certificate",
            f"certificate {info.serial} is a KSeF Authentication certificate ({why}). "
            "Authentication certificates only log a system in to KSeF; KSeF does not accept them for the "
            "CERTYFIKAT QR code (KOD II) on offline invoices, so invoices signed with it could not be verified "
            f"by buyers. {HOW_TO_GET_OFFLINE}",
        )
    if info.kind == UNKNOWN:
        if declared != OFFLINE:
            raise CertificateError(
                "unknown_certificate_type",
                f"certificate {info.serial} does not carry the KSeF Offline key usage (nonRepudiation only; it has: "
                f"{', '.join(sorted(info.key_usage)) or 'none'}), so its type cannot be told from the certificate. "
                "If KSeF lists it as type Offline, install it with `ksef-edge cert install FILE --type Offline`; "
                f"otherwise: {HOW_TO_GET_OFFLINE}",
            )
        warnings.append(
            f"certificate {info.serial} lacks the KSeF Offline key usage (nonRepudiation); "
            "accepted because it was declared Offline"
        )
    identity = identity_warning(info, seller_nip)
    if identity is not None:
        warnings.append(identity)
    if now < info.not_before:
        raise CertificateError(
            "not_yet_valid",
            f"certificate {info.serial} is valid only from {info.not_before:%Y-%m-%d %H:%M} UTC; "
            "check the device clock (timedatectl) or wait until then",
        )
    if now > info.not_after:
        raise CertificateError(
            "expired",
            f"certificate {info.serial} expired on {info.not_after:%Y-%m-%d %H:%M} UTC; request a new Offline "
            "certificate for this device's key in KSeF ('Moduł certyfikatów') and install it with "
            "`ksef-edge cert install FILE`",
        )
    left = info.not_after - now
    if left <= timedelta(days=EXPIRY_WARNING_DAYS):
        warnings.append(
            f"certificate {info.serial} expires on {info.not_after:%Y-%m-%d} ({left.days} days left): "
            "request a new Offline certificate in KSeF now and install it with `ksef-edge cert install FILE`"
        )
    if _public_der(info.public_key) != _public_der(public_key_of_private_key):
        raise CertificateError(
            "key_mismatch",
            f"certificate {info.serial} was issued for a different key than the one this device holds; "
            "install the certificate KSeF issued for this device's CSR (`ksef-edge key csr`), or enrol a new one",
        )
    return warnings


_PESEL_IN_ATTR = re.compile(r"^PNOPL-(\d{11})$")


def pesel_from_subject(attrs: tuple[tuple[str, str], ...]) -> str | None:
    """PESEL of a person's KSeF certificate (serialNumber=PNOPL-<PESEL>, ETSI EN 319 412-1 semantics)."""
    for oid, value in attrs:
        if oid == OID_SERIAL_NUMBER:
            m = _PESEL_IN_ATTR.match(value.strip())
            if m:
                return m.group(1)
    return None


def identity_label(info: CertificateInfo) -> tuple[str, str]:
    """(Polish, English) name of whom the certificate identifies; a PESEL shows only its last 4 digits."""
    pesel = pesel_from_subject(info.subject_attributes)
    if pesel is not None:
        return f"osoby fizycznej (PESEL …{pesel[-4:]})", f"a person (PESEL …{pesel[-4:]})"
    if info.nip is not None:
        return f"podmiotu o NIP {info.nip}", f"NIP {info.nip}"
    return f"podmiotu bez NIP ({info.subject})", f"an identity without a NIP ({info.subject})"


def identity_warning(info: CertificateInfo, seller_nip: str) -> str | None:
    """None when the certificate names the seller's NIP; otherwise what KSeF will check, in Polish and English."""
    if info.nip == seller_nip:
        return None
    pl, en = identity_label(info)
    return (
        f"Certyfikat {info.serial} należy do {pl}, a nie do sprzedawcy (NIP {seller_nip}). KSeF sprawdzi, czy ta "
        f"tożsamość ma uprawnienie do wystawiania faktur sprzedawcy NIP {seller_nip}; bez niego KOD II nie "
        "potwierdzi wystawcy u nabywcy, a KSeF może odrzucić faktury. Sprawdź uprawnienia w KSeF (moduł "
        f"'Uprawnienia'). / Certificate {info.serial} identifies {en}, not the seller NIP {seller_nip}: KSeF will "
        f"check this identity's permissions for the seller."
    )
