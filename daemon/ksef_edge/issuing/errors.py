"""What a till's request can be refused for while it is read, before anything is numbered or stored.

Raised by the request readers (`invoice_request`, `kor_request`): they know nothing of HTTP.
The API maps them: a `MalformedRequestError` (not a well-formed request at all: bad JSON, wrong type,
unknown field) to 400, an `InvalidRequestError` (well formed, but not a valid invoice) to 422. Each
carries the stable English `code`, a message saying what to fix, and the `field` path to fix.
"""
from __future__ import annotations


class RequestError(ValueError):
    def __init__(self, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field


class MalformedRequestError(RequestError):
    """The body is not a well-formed request (the till's integration must be fixed)."""


class InvalidRequestError(RequestError):
    """A well-formed request that cannot become a valid invoice (a value must be fixed)."""
