"""The pure issue pipeline: Invoice + Signer -> the exact bytes and everything derived from them.

One call builds and validates the FA(3) XML, hashes those bytes once, derives KOD I and KOD II
and the upload deadline. The store persists `IssuedDocument` as is; the printer and the uplink
use its fields and never rebuild the XML.
"""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TypedDict

from .. import __version__
from .deadlines import OfflineMode, upload_deadline
from .fa3 import build_fa3
from .invoice import Invoice
from .kod2_check import verify_kod2_signature
from .qr import QrEnvironment, b64url, kod1_url_for_hash, kod2_sign_string, kod2_url_with_signature
from .signer import Signer
from .totals import Totals, compute_totals

DEFAULT_SYSTEM_INFO = f"ksef-edge {__version__}"


@dataclass(frozen=True, eq=False)
class Seal:
    """What the exact bytes of any offline document (invoice or correction) derive: hash, links, deadline."""

    xml: bytes  # the document: store, print from and upload exactly these bytes
    sha256: bytes  # 32-byte digest of `xml`
    sha256_b64: str  # standard Base64 with padding: the API's `invoiceHash`
    sha256_b64url: str  # Base64URL without padding: the form inside KOD I/KOD II
    kod1_url: str | None  # None only in TOTAL_FAILURE (no QR codes then)
    kod2_url: str | None
    cert_serial: str | None
    mode: OfflineMode
    deadline: dt.date | None  # None: no obligation to send (total failure)

    def fields(self) -> SealFields:
        """The seal as keyword arguments of an issued document (typed, so mypy checks each one)."""
        return SealFields(xml=self.xml, sha256=self.sha256, sha256_b64=self.sha256_b64,
                          sha256_b64url=self.sha256_b64url, kod1_url=self.kod1_url, kod2_url=self.kod2_url,
                          cert_serial=self.cert_serial, mode=self.mode, deadline=self.deadline)


@dataclass(frozen=True, eq=False)
class IssuedDocument(Seal):
    """An issued invoice: its seal (the exact bytes and what derives from them) and what they were built from."""

    invoice: Invoice
    totals: Totals


def issue_document(
    invoice: Invoice,
    signer: Signer | None,
    *,
    env: QrEnvironment,
    ctx_type: str = "Nip",
    ctx_value: str | None = None,
    mode: OfflineMode = OfflineMode.OFFLINE24,
    system_info: str = DEFAULT_SYSTEM_INFO,
    unavailability_end: dt.date | None = None,
    failure_ends: Iterable[dt.date] = (),
) -> IssuedDocument:
    """Build, validate, hash, link and sign one offline invoice (raises InvoiceError/SchemaError/DomainError).

    `ctx_value` defaults to the seller's NIP (the usual till: the taxpayer issues in its own context).
    `signer` may be None only in TOTAL_FAILURE mode, where no QR codes are printed.
    """
    mode = OfflineMode(mode)
    totals = compute_totals(invoice)
    xml = build_fa3(invoice, system_info=system_info, totals=totals)
    seller_nip = invoice.seller.nip
    assert seller_nip is not None  # Invoice guarantees it
    seal = seal_document(
        xml, signer, env=env, seller_nip=seller_nip, issue_date=invoice.issue_date, ctx_type=ctx_type,
        ctx_value=ctx_value, mode=mode, unavailability_end=unavailability_end, failure_ends=failure_ends,
    )
    return IssuedDocument(invoice=invoice, totals=totals, **seal.fields())



class SealFields(TypedDict):
    xml: bytes
    sha256: bytes
    sha256_b64: str
    sha256_b64url: str
    kod1_url: str | None
    kod2_url: str | None
    cert_serial: str | None
    mode: OfflineMode
    deadline: dt.date | None


def seal_document(
    xml: bytes,
    signer: Signer | None,
    *,
    env: QrEnvironment,
    seller_nip: str,
    issue_date: dt.date,
    ctx_type: str = "Nip",
    ctx_value: str | None = None,
    mode: OfflineMode = OfflineMode.OFFLINE24,
    unavailability_end: dt.date | None = None,
    failure_ends: Iterable[dt.date] = (),
) -> Seal:
    """Hash `xml` once, derive KOD I (P_1 = `issue_date`) and KOD II, and the upload deadline."""
    mode = OfflineMode(mode)
    digest = hashlib.sha256(xml).digest()
    hash_b64url = b64url(digest)
    kod1 = kod2 = serial = None
    if mode.needs_qr_codes:
        if signer is None:
            raise ValueError("a Signer (the KSeF Offline certificate key) is required to issue offline invoices")
        kod1 = kod1_url_for_hash(env, seller_nip, issue_date, hash_b64url)
        serial = signer.certificate_serial
        sign_string = kod2_sign_string(env, ctx_type, ctx_value or seller_nip, seller_nip, serial, hash_b64url)
        signature = signer.sign(sign_string.encode("utf-8"))
        verify_kod2_signature(signer.certificate_der, serial, sign_string.encode("utf-8"), signature)  # before storing
        kod2 = kod2_url_with_signature(sign_string, signature)
    deadline = upload_deadline(mode, issue_date, unavailability_end=unavailability_end, failure_ends=failure_ends)
    return Seal(
        xml=xml,
        sha256=digest,
        sha256_b64=base64.b64encode(digest).decode("ascii"),
        sha256_b64url=hash_b64url,
        kod1_url=kod1,
        kod2_url=kod2,
        cert_serial=serial,
        mode=mode,
        deadline=deadline,
    )
