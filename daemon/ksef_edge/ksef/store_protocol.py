"""The outbox operations the uplink needs, complete and typed; `ksef_edge.store.OutboxStore` satisfies it
(mypy checks that where `runner.open_uplink` hands one over), so the uplink never probes a store.

The uplink opens its *own* store instance (own SQLite connections), so its short transactions
never hold up issuance on the API's connection.
"""
from __future__ import annotations

import datetime as dt
from typing import Protocol, Sequence

from ..store.records import InvoiceRecord, InvoiceState, TechnicalCorrection


class UplinkStore(Protocol):
    async def list_for_upload(self, limit: int) -> list[InvoiceRecord]:
        """`issued` invoices, most urgent deadline first, with `xml` filled."""
        ...

    async def list_oldest_first(
        self, *, state: InvoiceState | None = None, limit: int = 50, after: int = 0
    ) -> list[InvoiceRecord]: ...

    async def get(self, invoice_id: int) -> InvoiceRecord: ...

    async def get_xml(self, invoice_id: int) -> bytes: ...

    async def counts_by_state(self) -> dict[str, int]: ...

    async def mark_sending(self, invoice_id: int, session_ref: str, invoice_ref: str | None = None) -> None: ...

    async def mark_sending_many(self, invoice_ids: Sequence[int], session_ref: str) -> None:
        """A batch session: all its invoices `sending` in one transaction, before any part is uploaded."""
        ...

    async def mark_requeued(self, invoice_id: int) -> None: ...

    async def mark_accepted(self, invoice_id: int, ksef_number: str) -> None: ...

    async def mark_accepted_many(self, accepted: Sequence[tuple[int, str]]) -> None: ...

    async def mark_confirmed(self, invoice_id: int, upo: bytes) -> None: ...

    async def mark_confirmed_many(self, confirmed: Sequence[tuple[int, bytes]]) -> None: ...

    async def mark_rejected(self, invoice_id: int, code: str, reason: str) -> None: ...

    async def set_deadline(self, invoice_id: int, deadline: dt.date | None) -> bool:
        """A deadline moved later by an announced failure (stored, so upload order and restarts see it)."""
        ...

    async def technical_correction(self, invoice_id: int) -> TechnicalCorrection | None:
        """The accepted technical correction of an invoice (its UPO names the corrected file's hash)."""
        ...

    async def record_correction(
        self, invoice_id: int, *, xml: bytes, ksef_number: str, upo: bytes | None, session_ref: str, invoice_ref: str,
        kod1_url: str | None = None, kod2_url: str | None = None, cert_serial: str | None = None,
    ) -> InvoiceRecord:
        """KSeF accepted a technical correction of a `rejected` invoice: store the accepted file."""
        ...
