"""The outbox operations the uplink needs; `ksef_edge.store.OutboxStore` satisfies it.

Optional, used when present (`OutboxStore` has them): `mark_sending_many`, `mark_accepted_many`,
`mark_confirmed_many` (a batch session in one transaction each), `set_deadline` (a deadline moved
by an announced failure), `record_correction` (a technical correction's accepted file).

The uplink opens its *own* store instance (own SQLite connections), so its short transactions
never hold up issuance on the API's connection.
"""
from __future__ import annotations

from typing import Protocol

from ..store.records import InvoiceRecord, InvoiceState


class UplinkStore(Protocol):
    async def list_for_upload(self, limit: int) -> list[InvoiceRecord]:
        """`issued` invoices, most urgent deadline first, with `xml` filled."""
        ...

    async def list(self, *, state: InvoiceState | None = None, limit: int = 50, after: int = 0) -> list[InvoiceRecord]: ...

    async def get(self, invoice_id: int) -> InvoiceRecord: ...

    async def get_xml(self, invoice_id: int) -> bytes: ...

    async def mark_sending(self, invoice_id: int, session_ref: str, invoice_ref: str | None = None) -> None: ...

    async def mark_requeued(self, invoice_id: int) -> None: ...

    async def mark_accepted(self, invoice_id: int, ksef_number: str) -> None: ...

    async def mark_confirmed(self, invoice_id: int, upo: bytes) -> None: ...

    async def mark_rejected(self, invoice_id: int, code: str, reason: str) -> None: ...

    async def counts_by_state(self) -> dict[str, int]: ...
