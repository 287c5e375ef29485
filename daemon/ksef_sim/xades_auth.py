"""Checks on a signed AuthTokenRequest (POST /auth/xades-signature), from ksef-docs
`uwierzytelnianie.md`, `auth/podpis-xades.md` and the operation's error table (protocol.md §2.3).

What is checked: file rules; root `AuthTokenRequest` in namespace auth 2.1 or 2.0; exactly one
`ds:Signature`, enveloped (a child of the root) — detached is refused; the document without the
signature valid against `schemat_auth_v2-1.xsd` (a 2.0 document is checked against 2.1 with its
namespace renamed: ASSUMPTION, the two differ only in IPv4 patterns libxml2 cannot compile); the
XML-DSig signature cryptographically valid (signxml) with the certificate in `ds:KeyInfo`, and one
of its references covering the whole document; the certificate valid now; the identity read from the
certificate subject (`serialNumber` TINPL/NIP or PNOPL/PESEL, `organizationIdentifier` VATPL).
NOT checked: the certificate chain / trust anchor, OCSP/CRL, XAdES `SignedProperties` contents
(SigningCertificate digest, SigningTime) — TE with `verifyCertificateChain=false` also skips the chain.
"""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import re
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import NameOID
from lxml import etree
from signxml import SignatureConfiguration, XMLVerifier
from signxml.exceptions import SignXMLException

from .errors import KsefError
from .schema_check import AUTH_NS_20, AUTH_NS_21, DocumentError, auth_schema, parse_checked

DS_NS = "http://www.w3.org/2000/09/xmldsig#"
_NIP = re.compile(r"(?:TINPL|NIP).*?(\d{10})")
_PESEL = re.compile(r"(?:PNOPL|PESEL).*?(\d{11})")
_VAT = re.compile(r"VATPL.*?(\d{10})")


@dataclass(frozen=True)
class SignedAuthRequest:
    challenge: str
    context_type: str
    context_value: str
    subject_identifier_type: str
    identity: tuple[str, str]        # ("Nip" | "Pesel" | "Fingerprint", value)
    method: str                      # QualifiedSeal | QualifiedSignature
    document_hash: str               # Base64 SHA-256 of the request body


def read_signed_request(body: bytes, now: dt.datetime) -> SignedAuthRequest:
    try:
        root = parse_checked(body)
    except DocumentError as exc:
        code = 21217 if "UTF-8" in str(exc) or "BOM" in str(exc) else 21001
        raise KsefError(code, [str(exc)]) from None
    ns = etree.QName(root).namespace
    if etree.QName(root).localname != "AuthTokenRequest" or ns not in (AUTH_NS_21, AUTH_NS_20):
        raise KsefError(9101, [f"Element główny {root.tag} nie jest AuthTokenRequest ({AUTH_NS_21})."])
    signatures = root.findall(f".//{{{DS_NS}}}Signature")
    if not signatures:
        raise KsefError(9102, ["Dokument AuthTokenRequest nie zawiera podpisu ds:Signature."])
    if len(signatures) > 1:
        raise KsefError(9103, [f"Dokument zawiera {len(signatures)} podpisy; dozwolony jest jeden."])
    if signatures[0].getparent() is not root:
        raise KsefError(9105, ["Podpis musi być otaczany (enveloped): ds:Signature jako dziecko AuthTokenRequest."])
    _validate_unsigned(root, signatures[0])
    cert = _verify_signature(body, signatures[0])
    if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
        raise KsefError(21115, [f"Certyfikat podpisu jest ważny od {cert.not_valid_before_utc:%Y-%m-%d} do"
                                f" {cert.not_valid_after_utc:%Y-%m-%d}."])
    q = {"a": ns}
    context = root.find("a:ContextIdentifier", q)
    ctx_el = context[0] if context is not None and len(context) else None
    subject_type = (root.findtext("a:SubjectIdentifierType", namespaces=q) or "").strip()
    identity, method = _identity(cert, subject_type)
    return SignedAuthRequest(
        challenge=(root.findtext("a:Challenge", namespaces=q) or "").strip(),
        context_type=etree.QName(ctx_el).localname if ctx_el is not None else "",
        context_value=(ctx_el.text or "").strip() if ctx_el is not None else "",
        subject_identifier_type=subject_type, identity=identity, method=method,
        document_hash=base64.b64encode(hashlib.sha256(body).digest()).decode("ascii"))


def _validate_unsigned(root: etree._Element, signature: etree._Element) -> None:
    copy = etree.fromstring(etree.tostring(root))
    for sig in copy.findall(f"{{{DS_NS}}}Signature"):
        copy.remove(sig)
    if etree.QName(copy).namespace == AUTH_NS_20:
        text = etree.tostring(copy).replace(AUTH_NS_20.encode(), AUTH_NS_21.encode())
        copy = etree.fromstring(text)
    schema = auth_schema()
    if not schema.validate(copy):
        errors = [f"{e.message} (wiersz {e.line})" for e in list(schema.error_log)[:3]]
        raise KsefError(21401, errors)


def _verify_signature(body: bytes, signature: etree._Element) -> x509.Certificate:
    b64 = signature.findtext(f".//{{{DS_NS}}}X509Certificate")
    if not b64:
        raise KsefError(21115, ["Podpis nie zawiera certyfikatu (ds:KeyInfo/ds:X509Data/ds:X509Certificate)."])
    try:
        cert = x509.load_der_x509_certificate(base64.b64decode("".join(b64.split())))
    except ValueError as exc:
        raise KsefError(21115, [f"Nie można odczytać certyfikatu z ds:X509Certificate: {exc}"]) from None
    try:
        results = XMLVerifier().verify(body, x509_cert=cert, expect_config=SignatureConfiguration(
            expect_references=True))
    except (SignXMLException, ValueError, TypeError, etree.LxmlError) as exc:
        # anything the verifier refuses (bad digest, unsupported algorithm, malformed element) is a bad signature
        raise KsefError(9105, [f"Podpis XAdES nie weryfikuje się: {exc}"[:500]]) from None
    results = results if isinstance(results, list) else [results]
    if not any(etree.QName(r.signed_xml).localname == "AuthTokenRequest" for r in results
               if r.signed_xml is not None):
        raise KsefError(9105, ["Żadna referencja podpisu nie obejmuje całego dokumentu AuthTokenRequest (URI=\"\")."])
    return cert


def _identity(cert: x509.Certificate, subject_type: str) -> tuple[tuple[str, str], str]:
    if subject_type == "certificateFingerprint":
        return ("Fingerprint", cert.fingerprint(_sha256()).hex().upper()), "QualifiedSignature"
    serials = [str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER)]
    orgs = [str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_IDENTIFIER)]
    for text in orgs:
        m = _VAT.search(text)
        if m:
            return ("Nip", m.group(1)), "QualifiedSeal"
    for text in serials:
        m = _NIP.search(text)
        if m:
            return ("Nip", m.group(1)), "QualifiedSignature"
        m = _PESEL.search(text)
        if m:
            return ("Pesel", m.group(1)), "QualifiedSignature"
    raise KsefError(21115, ["Certyfikat nie zawiera identyfikatora NIP ani PESEL w podmiocie"
                            " (serialNumber TINPL-/PNOPL- lub organizationIdentifier VATPL-)."])


def _sha256() -> hashes.SHA256:
    return hashes.SHA256()
