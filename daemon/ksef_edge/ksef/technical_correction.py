"""Technical correction (protocol.md §5.5): a rejected offline invoice, re-generated with the same
content, sent in an *online* session with `hashOfCorrectedInvoice` = hash of the rejected file.

Exactly once here too: before re-sending after a lost answer, the session is searched for the
corrected file's hash.
"""
from __future__ import annotations

import base64
import logging
from dataclasses import dataclass

from ..domain.ksef_number import validate_ksef_number
from ..store.records import InvoiceRecord, InvoiceState
from .client import KsefClient
from .crypto import sha256_b64
from .errors import KsefHttpError, KsefProtocolError, KsefUnavailable
from .models import InvoiceStatus
from .store_protocol import UplinkStore
from .upo_check import check_upo

log = logging.getLogger(__name__)


class CorrectionError(Exception):
    """KSeF refused the correction; `code`/`reason` say why (e.g. 21166 already corrected,
    21167 the original was accepted, 430 the new file is invalid too)."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(f"technical correction refused ({code}): {reason}")
        self.code = code
        self.reason = reason


@dataclass(frozen=True)
class CorrectionResult:
    session_ref: str
    invoice_ref: str
    ksef_number: str
    upo: bytes | None  # None: KSeF accepted the file but its UPO could not be fetched yet (the uplink will)
    corrected_sha256_b64: str


async def send_technical_correction(
    client: KsefClient,
    *,
    original_sha256: bytes,
    corrected_xml: bytes,
    poll_interval_s: float = 1.0,
    polls_max: int = 120,
) -> CorrectionResult:
    """Send the re-generated invoice, wait for KSeF's verdict, fetch and check its UPO."""
    original_b64 = base64.b64encode(original_sha256).decode("ascii")
    new_hash = sha256_b64(corrected_xml)
    if new_hash == original_b64:
        raise CorrectionError("local", "the corrected file is byte-identical to the rejected one; "
                                       "re-generate the invoice file before correcting")
    session = await client.open_online_session()
    ref = session.reference_number
    try:
        try:
            invoice_ref = await client.send_invoice(session, corrected_xml, offline_mode=True,
                                                    hash_of_corrected_invoice=original_b64)
        except KsefHttpError as exc:
            raise CorrectionError(str(exc.codes[0] if exc.codes else exc.status), exc.message) from exc
        except KsefUnavailable:
            found = [e for e in await client.session_invoices(ref) if e.invoice_hash == new_hash]
            if not found:
                raise
            invoice_ref = found[0].reference_number
        entry: InvoiceStatus | None = None
        for _ in range(polls_max):
            entry = await client.invoice_status(ref, invoice_ref)
            if entry.code not in (100, 150):
                break
            await client.clock.sleep(poll_interval_s)
        assert entry is not None
        if entry.code != 200:
            raise CorrectionError(str(entry.code), entry.reason)
        ksef_number = validate_ksef_number(entry.ksef_number or "")
        upo_xml: bytes | None = None
        try:  # KSeF has accepted it (200): its UPO is evidence to collect, not a condition of the acceptance
            upo = await (client.download_upo(entry.upo_download_url) if entry.upo_download_url
                         else client.invoice_upo(ref, invoice_ref))
            check_upo(upo.xml, invoice_hash_b64=new_hash, ksef_number=ksef_number)
            upo_xml = upo.xml
        except (KsefHttpError, KsefUnavailable, KsefProtocolError) as exc:
            log.warning("technical correction %s accepted; its UPO is not available yet (%s): the uplink "
                        "will fetch it", ksef_number, exc)
    finally:
        try:
            await client.close_online_session(ref)
        except (KsefHttpError, KsefUnavailable) as exc:
            log.info("correction session %s not closed: %s", ref, exc)
    log.info("technical correction accepted as %s (corrects %s)", ksef_number, original_b64)
    return CorrectionResult(ref, invoice_ref, ksef_number, upo_xml, new_hash)


async def expected_upo_hash(store: UplinkStore, rec: InvoiceRecord) -> str:
    """The hash a UPO must name for `rec`: its own bytes', or, after a technical correction, the corrected file's."""
    if rec.reject_code is not None:  # only a once-rejected invoice can have a technical correction
        tc = await store.technical_correction(rec.id)
        if tc is not None:
            return base64.b64encode(tc.sha256).decode("ascii")
    return base64.b64encode(rec.sha256).decode("ascii")


__all__ = ["CorrectionError", "CorrectionResult", "KsefProtocolError", "correct_rejected_invoice",
           "expected_upo_hash", "send_technical_correction"]


async def correct_rejected_invoice(store: UplinkStore, client: KsefClient, invoice_id: int,
                                   corrected_xml: bytes, *, kod1_url: str | None = None,
                                   kod2_url: str | None = None, cert_serial: str | None = None) -> CorrectionResult:
    """CLI/API entry point for a technical correction of a `rejected` invoice.

    Returns the `CorrectionResult` (KSeF number + checked UPO of the corrected file) after
    `store.record_correction` stored the accepted file with its own hash and the QR links the caller
    derived from THESE bytes (`domain.issuance.seal_document`); the invoice becomes `confirmed`.
    """
    rec = await store.get(invoice_id)
    if rec.state is not InvoiceState.REJECTED:
        raise CorrectionError("local", f"invoice {rec.number} is {rec.state.value}; only a rejected invoice "
                                       "can be technically corrected")
    result = await send_technical_correction(client, original_sha256=rec.sha256, corrected_xml=corrected_xml)
    await store.record_correction(invoice_id, xml=corrected_xml, ksef_number=result.ksef_number, upo=result.upo,
                                  session_ref=result.session_ref, invoice_ref=result.invoice_ref, kod1_url=kod1_url,
                                  kod2_url=kod2_url, cert_serial=cert_serial)
    return result
