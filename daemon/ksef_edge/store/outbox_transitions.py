"""The outbox's state machine: issued -> sending -> accepted -> confirmed, or rejected; print states;
deadlines moved later. Each change is checked against the allowed source states in one transaction."""
from __future__ import annotations

import datetime as dt
import logging
import sqlite3
from typing import Any, Iterable, Sequence

from .outbox_reads import OutboxReads
from .records import (
    InvalidTransitionError,
    InvoiceState,
    NotFoundError,
    PrintState,
)
from .rows import require_text, require_upo, utc_text

log = logging.getLogger("ksef_edge.store.outbox")

class OutboxTransitions(OutboxReads):
    # ------------------------------------------------------------------------------ transitions

    async def mark_sending(self, invoice_id: int, session_ref: str, invoice_ref: str | None = None) -> None:
        """Record the KSeF session (and invoice) reference BEFORE sending, so a restart can query it.

        Allowed from `issued`, and from `sending` (resumed in a new session after a status query).
        """
        require_text(session_ref, "session_ref")
        await self._transition(
            invoice_id,
            {InvoiceState.ISSUED, InvoiceState.SENDING},
            InvoiceState.SENDING,
            {"ksef_session_ref": session_ref, "ksef_invoice_ref": invoice_ref},
        )

    async def mark_sending_many(self, invoice_ids: Sequence[int], session_ref: str) -> None:
        """`mark_sending` for a whole batch session in ONE transaction (one fsync, not 10 000).

        All or nothing: if any invoice is not `issued`/`sending`, none changes (InvalidTransitionError).
        """
        require_text(session_ref, "session_ref")
        await self._transition_many(
            [(i, (session_ref, None)) for i in invoice_ids],
            {InvoiceState.ISSUED, InvoiceState.SENDING},
            InvoiceState.SENDING,
            ("ksef_session_ref", "ksef_invoice_ref"),
        )

    async def mark_accepted_many(self, accepted: Sequence[tuple[int, str]]) -> None:
        """`mark_accepted` for many `(invoice_id, ksef_number)` in one transaction (a processed batch)."""
        for _, number in accepted:
            require_text(number, "ksef_number")
        await self._transition_many(
            [(i, (n,)) for i, n in accepted], {InvoiceState.SENDING}, InvoiceState.ACCEPTED, ("ksef_number",)
        )

    async def mark_confirmed_many(self, confirmed: Sequence[tuple[int, bytes]]) -> None:
        """`mark_confirmed` for many `(invoice_id, upo)` in one transaction."""
        for invoice_id, upo in confirmed:
            require_upo(invoice_id, upo)
        await self._transition_many(
            [(i, (bytes(u),)) for i, u in confirmed], {InvoiceState.ACCEPTED}, InvoiceState.CONFIRMED, ("upo",)
        )

    async def set_deadline(self, invoice_id: int, deadline: dt.date | None) -> bool:
        """Store a recomputed upload deadline (e.g. a KSeF failure announced by Latarnia moved it).

        Only for invoices KSeF does not hold yet (issued, sending, rejected); returns False otherwise.
        """
        text = deadline.isoformat() if deadline else None
        stamp = utc_text(dt.datetime.now(dt.timezone.utc))
        changed = await self._write(lambda conn: conn.execute(
            "UPDATE invoices SET deadline = ?, updated_at = ? WHERE id = ? "
            "AND state IN ('issued','sending','rejected') AND deadline IS NOT ?",
            (text, stamp, invoice_id, text),
        ).rowcount)
        if changed:
            log.info("invoice %s: upload deadline now %s", invoice_id, deadline)
        return bool(changed)

    async def mark_requeued(self, invoice_id: int) -> None:
        """`sending` -> `issued`: the session ended without KSeF accepting or rejecting the invoice."""
        await self._transition(
            invoice_id,
            {InvoiceState.SENDING},
            InvoiceState.ISSUED,
            {"ksef_session_ref": None, "ksef_invoice_ref": None},
        )

    async def mark_accepted(self, invoice_id: int, ksef_number: str) -> None:
        require_text(ksef_number, "ksef_number")
        await self._transition(
            invoice_id, {InvoiceState.SENDING}, InvoiceState.ACCEPTED, {"ksef_number": ksef_number}
        )

    async def mark_confirmed(self, invoice_id: int, upo: bytes) -> None:
        require_upo(invoice_id, upo)
        await self._transition(invoice_id, {InvoiceState.ACCEPTED}, InvoiceState.CONFIRMED, {"upo": bytes(upo)})

    async def mark_rejected(self, invoice_id: int, code: str, reason: str) -> None:
        await self._transition(
            invoice_id,
            {InvoiceState.SENDING},
            InvoiceState.REJECTED,
            {"reject_code": str(code), "reject_reason": str(reason)},
        )

    async def set_print_state(self, invoice_id: int, state: PrintState | str, error: str | None = None) -> None:
        """Printer callback; any print state may follow any other (a reprint restarts the cycle)."""
        state = PrintState(state)
        stamp = utc_text(dt.datetime.now(dt.timezone.utc))
        changed = await self._write(lambda conn: conn.execute(
            "UPDATE invoices SET print_state = ?, print_error = ?, updated_at = ? WHERE id = ?",
            (state.value, error, stamp, invoice_id),
        ).rowcount)
        if changed != 1:
            raise NotFoundError(f"invoice {invoice_id} does not exist")

    async def _transition(
        self, invoice_id: int, allowed: Iterable[InvoiceState], to: InvoiceState, values: dict[str, Any]
    ) -> None:
        await self._set_states([(invoice_id, tuple(values.values()))], allowed, to, tuple(values))
        log.info("invoice %s -> %s", invoice_id, to.value)

    async def _transition_many(
        self,
        items: Sequence[tuple[int, tuple[Any, ...]]],
        allowed: Iterable[InvoiceState],
        to: InvoiceState,
        columns: tuple[str, ...],
    ) -> None:
        """`_transition` for many invoices in one transaction; all or nothing."""
        if not items:
            return
        await self._set_states(items, allowed, to, columns, batch=True)
        log.info("%d invoice(s) -> %s", len(items), to.value)

    async def _set_states(
        self,
        items: Sequence[tuple[int, tuple[Any, ...]]],
        allowed: Iterable[InvoiceState],
        to: InvoiceState,
        columns: tuple[str, ...],
        *,
        batch: bool = False,
    ) -> None:
        """Move each `(invoice_id, values of columns)` from an `allowed` state to `to`, in one transaction."""
        sources = sorted(s.value for s in allowed)
        sets = ", ".join(f"{col} = ?" for col in columns)
        marks = ",".join("?" for _ in sources)
        sql = f"UPDATE invoices SET state = ?, {sets}, updated_at = ? WHERE id = ? AND state IN ({marks})"
        stamp = utc_text(dt.datetime.now(dt.timezone.utc))
        def update(conn: sqlite3.Connection) -> None:
            for invoice_id, values in items:
                if conn.execute(sql, (to.value, *values, stamp, invoice_id, *sources)).rowcount == 1:
                    continue
                row = conn.execute("SELECT state FROM invoices WHERE id = ?", (invoice_id,)).fetchone()
                if row is None:
                    raise NotFoundError(f"invoice {invoice_id} does not exist")
                raise InvalidTransitionError(
                    f"invoice {invoice_id} is {row[0]!r}; it can become {to.value!r} only from "
                    f"{' or '.join(repr(a) for a in sources)}"
                    + (f" (none of the {len(items)} changed)" if batch else "")
                )

        await self._write_transaction(update)
