"""Technical corrections' accepted files: the corrected bytes KSeF holds in place of a rejected invoice."""
from __future__ import annotations

import datetime as dt
import hashlib
import logging
import sqlite3

from .outbox_reads import OutboxReads
from .records import (
    InvalidTransitionError,
    InvoiceRecord,
    InvoiceState,
    NotFoundError,
    TechnicalCorrection,
)
from .rows import require_text, utc_text

log = logging.getLogger("ksef_edge.store.outbox")

class CorrectedFiles(OutboxReads):
    async def record_correction(
        self,
        invoice_id: int,
        *,
        xml: bytes,
        ksef_number: str,
        upo: bytes | None,
        session_ref: str,
        invoice_ref: str,
        kod1_url: str | None = None,
        kod2_url: str | None = None,
        cert_serial: str | None = None,
    ) -> InvoiceRecord:
        """KSeF accepted a technical correction of the `rejected` invoice: store the accepted file.

        The corrected bytes, their SHA-256 and their own KOD I / KOD II (computed by the caller from
        THESE bytes) go into `technical_corrections`; the invoice row keeps the bytes signed and
        printed at the till and becomes `confirmed` with the correction's KSeF number and UPO, in one
        transaction. Returns the updated invoice. `upo` None: KSeF accepted it but its UPO could not be
        fetched yet; the invoice is then `accepted` and the uplink fetches the UPO (issue #17).
        """

        require_text(ksef_number, "ksef_number")
        require_text(session_ref, "session_ref")
        require_text(invoice_ref, "invoice_ref")
        if not xml or upo == b"":
            raise InvalidTransitionError(f"invoice {invoice_id}: the corrected XML and its UPO must be non-empty")
        state = InvoiceState.CONFIRMED.value if upo else InvoiceState.ACCEPTED.value
        digest = hashlib.sha256(bytes(xml)).digest()
        now = utc_text(dt.datetime.now(dt.timezone.utc))
        def record(conn: sqlite3.Connection) -> None:
            row = conn.execute("SELECT state, sha256, reject_code FROM invoices WHERE id = ?", (invoice_id,)).fetchone()
            if row is None:
                raise NotFoundError(f"invoice {invoice_id} does not exist")
            if row[0] != InvoiceState.REJECTED.value:
                raise InvalidTransitionError(
                    f"invoice {invoice_id} is {row[0]!r}; only a 'rejected' invoice takes a technical correction")
            if bytes(row[1]) == digest:
                raise InvalidTransitionError(
                    f"invoice {invoice_id}: the corrected file is byte-identical to the rejected one")
            conn.execute(
                "INSERT INTO technical_corrections (invoice_id, xml, sha256, kod1_url, kod2_url, cert_serial, "
                "ksef_number, upo, session_ref, invoice_ref, reject_code, created_at) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                (invoice_id, bytes(xml), digest, kod1_url, kod2_url, cert_serial, ksef_number, bytes(upo or b""),
                 session_ref, invoice_ref, row[2], now),
            )  # b"": the UPO is still to come; readers then take the invoice row's (set by mark_confirmed)
            conn.execute(
                "UPDATE invoices SET state = ?, ksef_number = ?, upo = ?, ksef_session_ref = ?, "
                "ksef_invoice_ref = ?, updated_at = ? WHERE id = ?",
                (state, ksef_number, bytes(upo) if upo else None, session_ref, invoice_ref, now, invoice_id),
            )

        await self._write_transaction(record)
        log.info("invoice %s: technical correction accepted as %s", invoice_id, ksef_number)
        return await self._get(self._reader, invoice_id)

    async def technical_correction(self, invoice_id: int) -> TechnicalCorrection | None:
        """The accepted technical correction of an invoice, if there is one."""
        async with self._reader.execute(
            "SELECT t.invoice_id, t.xml, t.sha256, t.kod1_url, t.kod2_url, t.cert_serial, t.ksef_number, "
            "coalesce(nullif(t.upo, x''), i.upo), t.session_ref, t.invoice_ref, t.reject_code, t.created_at "
            "FROM technical_corrections t JOIN invoices i ON i.id = t.invoice_id WHERE t.invoice_id = ?",
            (invoice_id,),
        ) as cur:
            row = await cur.fetchone()
        if row is None:
            return None
        return TechnicalCorrection(
            invoice_id=row[0], xml=bytes(row[1]), sha256=bytes(row[2]), kod1_url=row[3], kod2_url=row[4],
            cert_serial=row[5], ksef_number=row[6], upo=bytes(row[7]) if row[7] else None, session_ref=row[8],
            invoice_ref=row[9],
            reject_code=row[10], created_at=dt.datetime.fromisoformat(row[11]),
        )
