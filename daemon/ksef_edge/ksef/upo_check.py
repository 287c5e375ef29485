"""Accept a UPO as KSeF really sends it, if it names our exact invoice (hash) under its KSeF number.

What KSeF sends differs from a bare `upo-v4-3.xsd` instance in two documented ways, and refusing
either would leave every invoice `accepted` forever (issue #17):
- TE/DEMO put an environment suffix after the receiver's name (`Ministerstwo Finansów - środowisko
  testowe (TE)`; ksef-docs `api-changelog.md` RC6.0, all six ksef-docs UPO examples), while the XSD
  declares it `fixed="Ministerstwo Finansów"`;
- the UPO is XAdES-signed (ksef-docs `sesja-sprawdzenie-stanu-i-pobranie-upo.md`): an enveloped
  `ds:Signature` as the last child of `Potwierdzenie`, which the XSD does not declare.
So the schema check runs on a copy with the enveloped signature removed and the receiver name
reduced to its fixed part; everything else must validate exactly. The bytes are parsed with the
hardened parser (size-bounded, no DTD, no entities, no network). The signature, when present, is
verified and REPORTED (`UpoSignature`), never a reason to refuse: confirmation rests on the hash.
"""
from __future__ import annotations

import base64
import copy
import re
import threading
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from cryptography import x509
from lxml import etree

from ..domain.errors import SchemaError
from ..domain.fa3 import UPO_NS, parse_untrusted, safe_parser, upo_schema
from .errors import KsefProtocolError

DS_NS = "http://www.w3.org/2000/09/xmldsig#"
RECEIVER = "Ministerstwo Finansów"
# "Ministerstwo Finansów - środowisko testowe (TE)" and the like: the fixed name, " - ", a label.
_RECEIVER_WITH_ENV = re.compile(r"^Ministerstwo Finansów - (?P<env>\S.{0,200})$", re.DOTALL)


@dataclass(frozen=True)
class UpoSignature:
    """What the UPO's enveloped XML signature says. `status`: absent | valid | invalid."""

    status: str
    detail: str = ""  # signer subject when valid, the reason when invalid
    environment: str | None = None  # the receiver-name suffix (TE/DEMO), None on production

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status, "detail": self.detail, "environment": self.environment}


def check_upo(xml: bytes, *, invoice_hash_b64: str, ksef_number: str) -> UpoSignature:
    """Raise KsefProtocolError unless the UPO is well-formed, safe, valid and confirms this invoice."""
    try:
        tree = parse_untrusted(xml, "UPO")
    except SchemaError as exc:
        raise KsefProtocolError(f"UPO rejected: {exc}") from exc
    root = tree.getroot()
    environment = _validate_as_sent(root)
    for doc in root.iterfind(f"{{{UPO_NS}}}Dokument"):
        digest = (doc.findtext(f"{{{UPO_NS}}}SkrotDokumentu") or "").strip()
        number = (doc.findtext(f"{{{UPO_NS}}}NumerKSeFDokumentu") or "").strip()
        if digest == invoice_hash_b64 and number == ksef_number:
            result = verify_signature(xml, root, environment)
            TALLY.add(result)
            return result
    raise KsefProtocolError(
        f"UPO does not confirm invoice hash {invoice_hash_b64} with KSeF number {ksef_number}")


def _validate_as_sent(root: etree._Element) -> str | None:
    """Schema-check a copy without the enveloped signature and the environment suffix; return the suffix."""
    if root.tag != f"{{{UPO_NS}}}Potwierdzenie":
        raise KsefProtocolError(f"UPO rejected: root element is {root.tag}, not UPO v4-3 Potwierdzenie")
    bare = copy.deepcopy(root)
    for sig in bare.findall(f"{{{DS_NS}}}Signature"):
        bare.remove(sig)
    environment = None
    name = bare.find(f"{{{UPO_NS}}}NazwaPodmiotuPrzyjmujacego")
    if name is not None and name.text is not None:
        m = _RECEIVER_WITH_ENV.match(name.text.strip())
        if m:
            environment = m.group("env").strip()
            name.text = RECEIVER
    schema = upo_schema()
    if not schema.validate(etree.ElementTree(bare)):
        errors = [f"line {e.line}: {e.message}" for e in list(schema.error_log)[:5]]
        raise KsefProtocolError("UPO rejected: does not validate against UPO v4-3: " + "; ".join(errors))
    return environment


def verify_signature(xml: bytes, root: etree._Element, environment: str | None = None) -> UpoSignature:
    """Check the enveloped signature against the certificate it carries (integrity, not trust).

    Which CA signs real UPOs is not published in ksef-docs, so the signer is reported (subject), not
    checked against an anchor; docs/uplink.md lists this as an assumption.
    """
    if root.find(f"{{{DS_NS}}}Signature") is None:
        return UpoSignature("absent", "", environment)
    try:
        cert_text = root.findtext(f"{{{DS_NS}}}Signature/{{{DS_NS}}}KeyInfo/{{{DS_NS}}}X509Data/{{{DS_NS}}}X509Certificate")
        if not cert_text:
            return UpoSignature("invalid", "the signature carries no X509Certificate", environment)
        cert = x509.load_der_x509_certificate(base64.b64decode("".join(cert_text.split())))
        from signxml import SignatureConfiguration, XMLVerifier  # ~16 MB: loaded at the first UPO, not at start-up

        config = SignatureConfiguration(location="./", expect_references=True)
        XMLVerifier().verify(bytes(xml), x509_cert=cert, parser=safe_parser(), expect_config=config)
    except Exception as exc:
        return UpoSignature("invalid", f"{type(exc).__name__}: {exc}"[:300], environment)
    return UpoSignature("valid", cert.subject.rfc4514_string(), environment)


class _Tally:
    """Counts of the UPO signatures seen since start, and the last one, for GET /v1/status."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, int] = {"valid": 0, "invalid": 0, "absent": 0}
        self._last: UpoSignature | None = None

    def add(self, result: UpoSignature) -> None:
        with self._lock:
            self._counts[result.status] = self._counts.get(result.status, 0) + 1
            self._last = result

    def to_dict(self) -> dict[str, Any]:
        with self._lock:
            return {**self._counts, "last": self._last.to_dict() if self._last else None}


TALLY = _Tally()


@lru_cache(maxsize=256)
def stored_upo_signature(xml: bytes | None) -> dict[str, Any] | None:
    """`upo_signature` of GET /v1/invoices/{id}: the stored UPO's signature, checked once per UPO (cached)."""
    if not xml:
        return None
    try:
        root = parse_untrusted(xml, "UPO").getroot()
    except SchemaError as exc:
        return UpoSignature("invalid", str(exc)[:300]).to_dict()
    name = (root.findtext(f"{{{UPO_NS}}}NazwaPodmiotuPrzyjmujacego") or "").strip()
    m = _RECEIVER_WITH_ENV.match(name)
    return verify_signature(xml, root, m.group("env").strip() if m else None).to_dict()
