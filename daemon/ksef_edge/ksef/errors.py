"""Errors of the KSeF protocol layer.

Two kinds matter to the uplink: KSeF *answered* with a definite refusal (`KsefHttpError`: do not
blindly retry, read `codes`), or KSeF could not be reached / was not sure (`KsefUnavailable`:
back off and retry; the request may or may not have been committed, so query before resending).
"""
from __future__ import annotations


class KsefError(Exception):
    """Base of every error raised by `ksef_edge.ksef`."""


class KsefHttpError(KsefError):
    """KSeF answered 4xx. `codes` are the `exceptionCode`s; `retry_after` (s) comes from 429."""

    def __init__(
        self,
        status: int,
        codes: tuple[int, ...] = (),
        retry_after: float | None = None,
        message: str = "",
    ) -> None:
        self.status = status
        self.codes = tuple(codes)
        self.retry_after = retry_after
        self.message = message
        detail = f" codes={list(self.codes)}" if self.codes else ""
        after = f" retry_after={retry_after}s" if retry_after is not None else ""
        super().__init__(f"KSeF HTTP {status}{detail}{after}: {message}".rstrip(": "))


class KsefUnavailable(KsefError):
    """Connection error, timeout or 5xx: the outcome of the request is unknown."""

    def __init__(self, message: str, *, status: int | None = None, retry_after: float | None = None) -> None:
        self.status = status
        self.retry_after = retry_after
        super().__init__(message)


class KsefAuthError(KsefError):
    """Authentication finished with a refusal (bad/revoked token, no permissions): needs a person."""


class KsefProtocolError(KsefError):
    """KSeF's answer does not match the contract (bad UPO hash, missing field): never trusted."""
