"""Errors of the domain core; each names the field a user must fix."""
from __future__ import annotations


class DomainError(Exception):
    """Base of every error raised by the pure core."""


class InvoiceError(DomainError, ValueError):
    """Invalid invoice input. `field` is a dotted path such as `lines[2].quantity`."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class SchemaError(DomainError):
    """The built XML does not validate against the official FA(3) XSD (a bug, never user input)."""


class KsefNumberError(DomainError, ValueError):
    """A string that is not a valid KSeF number."""
