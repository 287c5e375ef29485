"""Asynchronous invoice processing (100 -> 150 -> final) and session completion, as KSeF does
after accepting a file: checks, duplicate detection, KSeF number, UPO availability."""
from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import zipfile

from . import refnums
from .clock import parse_iso
from .correction_checks import CORRECTION_KINDS, missing_originals
from .crypto import DecryptionError, aes_cbc_decrypt, sha256_b64
from .invoice_checks import INVOICE_STATUS, verify_invoice_file
from .ksef_numbers import new_ksef_number
from .model import InvoiceRecord, Session
from .state import SimState

SESSION_STATUS = {
    ("online", 100): "Sesja interaktywna otwarta",
    ("online", 170): "Sesja interaktywna zamknięta",
    ("online", 200): "Sesja interaktywna przetworzona pomyślnie",
    ("batch", 100): "Sesja wsadowa rozpoczęta",
    ("batch", 150): "Trwa przetwarzanie",
    ("batch", 200): "Sesja wsadowa przetworzona pomyślnie",
    ("batch", 405): "Błąd weryfikacji poprawności dostarczonych elementów paczki",
    ("batch", 420): "Przekroczony limit faktur w sesji",
    ("batch", 430): "Błąd dekompresji pierwotnego archiwum",
    ("batch", 435): "Błąd odszyfrowania zaszyfrowanych części archiwum",
}
COMMON_SESSION_STATUS = {415: "Błąd odszyfrowania dostarczonego klucza", 440: "Sesja anulowana",
                         445: "Błąd weryfikacji, brak poprawnych faktur", 500: "Nieznany błąd"}


def invoice_blob_name(ksef_number: str) -> str:
    return f"invoice/{ksef_number}"


def set_session_status(st: SimState, session: Session, code: int, details: list[str] | None = None) -> None:
    session.status_code = code
    session.status_description = SESSION_STATUS.get((session.kind, code)) or COMMON_SESSION_STATUS[code]
    session.status_details = details or []
    session.date_updated = st.now_iso()
    st.save(session)


def set_invoice_status(inv: InvoiceRecord, code: int, details: list[str] | None = None,
                       extensions: dict | None = None) -> None:
    inv.status_code = code
    inv.status_description = INVOICE_STATUS[code]
    inv.details = details or []
    inv.extensions = extensions


def decide(st: SimState, session: Session, inv: InvoiceRecord, xml: bytes, *, attachments_allowed: bool) -> None:
    """Final status of one decrypted invoice; accepted ones get a KSeF number and enter the index."""
    now = st.now()
    verdict = verify_invoice_file(xml, context_nip=session.nip, acceptance_day=st.warsaw_day(now),
                                  attachments_allowed=attachments_allowed)
    inv.xml_b64 = None
    if verdict.summary is None:
        set_invoice_status(inv, verdict.code, verdict.details)
        return
    summary = verdict.summary
    inv.invoice_number, inv.invoice_kind = summary.number, summary.kind
    inv.seller_nip, inv.issue_date = summary.seller_nip, summary.issue_date.isoformat()
    key = (summary.seller_nip, summary.kind, summary.number)
    original_ref = st.accepted_by_key.get(key)
    if original_ref is not None:
        original = st.invoices[original_ref]
        set_invoice_status(inv, 440, [
            f"Duplikat faktury. Faktura o numerze KSeF: {original.ksef_number} została już prawidłowo"
            f" przesłana do systemu w sesji: {original.session_reference}"],
            {"originalSessionReferenceNumber": original.session_reference,
             "originalKsefNumber": original.ksef_number})
        return
    if summary.kind in CORRECTION_KINDS:
        problems = missing_originals(
            xml, seller_nip=summary.seller_nip, accepted=st.accepted_by_key, by_ksef_number=st.by_ksef_number,
            issue_date_of={ref: st.invoices[ref].issue_date for ref in st.accepted_by_key.values() if ref in st.invoices})
        if problems:
            set_invoice_status(inv, 450, problems)
            return
    invoicing_day = st.warsaw_day(parse_iso(inv.invoicing_date))
    offline = inv.offline_mode or summary.issue_date < invoicing_day   # protocol.md §5.3
    inv.ksef_number = new_ksef_number(summary.seller_nip, st.warsaw_day(now))
    inv.acquisition_date = st.now_iso()
    inv.permanent_storage_date = st.now_iso()
    inv.invoicing_mode = "Offline" if offline else "Online"
    set_invoice_status(inv, 200)
    st.store.put_blob(invoice_blob_name(inv.ksef_number), xml)   # GET /invoices/ksef/{ksefNumber}
    st.accepted_by_key[key] = inv.reference_number
    st.by_ksef_number[inv.ksef_number] = inv.reference_number


async def process_online_invoice(st: SimState, inv_ref: str) -> None:
    inv = st.invoices[inv_ref]
    await asyncio.sleep(st.processing_delay_s / 2)
    if inv.status_code == 100:
        set_invoice_status(inv, 150)
        st.save(inv)
    await asyncio.sleep(st.processing_delay_s / 2)
    session = st.sessions[inv.session_reference]
    xml = base64.b64decode(inv.xml_b64 or "")
    decide(st, session, inv, xml, attachments_allowed=inv.hash_of_corrected is not None)
    st.save(inv)
    maybe_finish_online(st, session)


def session_counts(st: SimState, session: Session) -> tuple[int, int, int, int]:
    """(all, successful, failed, still processing)."""
    refs = st.session_invoices.get(session.reference_number, [])
    codes = [st.invoices[r].status_code for r in refs]
    ok = sum(1 for c in codes if c == 200)
    pending = sum(1 for c in codes if c in (100, 150))
    return len(codes), ok, len(codes) - ok - pending, pending


def maybe_finish_online(st: SimState, session: Session) -> None:
    if session.kind != "online" or session.status_code != 170:
        return
    if session_counts(st, session)[3]:  # still processing
        return
    finish_session(st, session)


def finish_session(st: SimState, session: Session) -> None:
    """Every invoice processed: 440 none sent, 445 none accepted, else 200 with the session UPO's reference."""
    total, ok, _, _ = session_counts(st, session)
    if total == 0:
        set_session_status(st, session, 440, ["Nie przesłano faktur"])
    elif ok == 0:
        set_session_status(st, session, 445)
    else:
        session.upo_reference = refnums.new_reference(refnums.UPO_PAGE, st.now())
        set_session_status(st, session, 200)


async def process_batch(st: SimState, session_ref: str) -> None:
    await asyncio.sleep(st.processing_delay_s)
    session = st.sessions[session_ref]
    if session.status_code != 150:
        return
    meta = session.batch_file or {}
    key, iv = base64.b64decode(session.aes_key_b64 or ""), base64.b64decode(session.iv_b64)
    archive = bytearray()
    for part in sorted(meta["fileParts"], key=lambda p: p["ordinalNumber"]):
        n = part["ordinalNumber"]
        blob = st.store.get_blob(f"{session_ref}/{n}") or b""
        if len(blob) != part["fileSize"] or sha256_b64(blob) != part["fileHash"]:
            set_session_status(st, session, 405, [f"Część {n} pakietu nie zgadza się z zadeklarowanym"
                                                  " rozmiarem lub skrótem (fileSize/fileHash zaszyfrowanej części)."])
            return
        try:
            archive += aes_cbc_decrypt(key, iv, blob)
        except DecryptionError as exc:
            set_session_status(st, session, 435, [f"Część {n}: {exc}"])
            return
    if len(archive) != meta["fileSize"] or sha256_b64(bytes(archive)) != meta["fileHash"]:
        set_session_status(st, session, 405, ["Odszyfrowana paczka nie zgadza się z zadeklarowanym"
                                              " batchFile.fileSize/fileHash."])
        return
    try:
        with zipfile.ZipFile(io.BytesIO(bytes(archive))) as zf:
            names = [n for n in zf.namelist() if not n.endswith("/")]
            if len(names) > st.config.session_invoices_max:
                set_session_status(st, session, 420, [f"Paczka zawiera {len(names)} faktur; limit sesji to"
                                                      f" {st.config.session_invoices_max}."])
                return
            files = [(name, zf.read(name)) for name in names]
    except (zipfile.BadZipFile, OSError) as exc:
        set_session_status(st, session, 430, [f"Nie można rozpakować archiwum ZIP: {exc}"])
        return
    with st.store.transaction():
        for ordinal, (name, xml) in enumerate(files, start=1):
            inv = InvoiceRecord(
                reference_number=refnums.new_reference(refnums.INVOICE, st.now()),
                session_reference=session_ref, ordinal=ordinal,
                invoice_hash=base64.b64encode(hashlib.sha256(xml).digest()).decode("ascii"),
                invoicing_date=session.date_created, offline_mode=session.offline_mode,
                status_code=150, status_description=INVOICE_STATUS[150], file_name=name[-128:])
            if len(xml) > st.config.invoice_bytes_max * 3:
                set_invoice_status(inv, 430, [f"Plik {name} ma {len(xml)} bajtów; limit to 3 MB z załącznikami."])
            else:
                decide(st, session, inv, xml, attachments_allowed=True)
            st.index_invoice(inv)
            st.save(inv)
        session.invoice_count = len(files)
        finish_session(st, session)


def resume_pending(st: SimState) -> None:
    """After a restart: finish what was accepted but not yet processed."""
    for inv in list(st.invoices.values()):
        if inv.status_code in (100, 150) and inv.xml_b64 is not None:
            st.spawn(process_online_invoice(st, inv.reference_number))
    for session in list(st.sessions.values()):
        if session.kind == "batch" and session.status_code == 150:
            st.spawn(process_batch(st, session.reference_number))
        elif session.kind == "online":
            maybe_finish_online(st, session)
