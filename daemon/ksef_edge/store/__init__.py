"""The durable outbox: one SQLite file holding every issued invoice, its number and its KSeF state.

Public API: `OutboxStore` (open/issue/read/transitions), the records and errors in `records`.
"""
from .outbox import OutboxStore
from .records import (
    ClockBehindError,
    CorrectionContext,
    IdempotencyConflictError,
    IntegrityCheckError,
    InvalidTransitionError,
    InvoiceRecord,
    InvoiceState,
    MigrationError,
    NewInvoice,
    NotFoundError,
    PrintState,
    SchemaTooNewError,
    StorageFullError,
    StoreError,
    TechnicalCorrection,
)
from .retirement import OutboxRetiredError

__all__ = [
    "OutboxStore",
    "OutboxRetiredError",
    "ClockBehindError",
    "CorrectionContext",
    "IdempotencyConflictError",
    "IntegrityCheckError",
    "InvalidTransitionError",
    "InvoiceRecord",
    "InvoiceState",
    "MigrationError",
    "NewInvoice",
    "NotFoundError",
    "PrintState",
    "SchemaTooNewError",
    "StorageFullError",
    "StoreError",
    "TechnicalCorrection",
]
