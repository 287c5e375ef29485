"""The one shape of a request the device refuses, shared by the API and the services it calls.

Kept free of aiohttp so a service layer (e.g. corrections) can refuse with the status, code and
field the API answers with, without importing the web framework or being re-wrapped at the edge.
"""
from __future__ import annotations


class Refusal(Exception):
    """Refused request: HTTP `status`, machine `code`, a message a person can act on, the `field` to fix."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field
