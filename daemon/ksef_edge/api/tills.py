"""The API side of named tills: which till a request comes from, and what it issued.

The registry (store/tills.py) answers each request's token; the till's name is kept on the request
(`TILL`), written beside each new invoice (`invoice_tills`) in the invoice's own transaction, and
counted per till at /metrics.
"""
from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter

from ..store.tills import TillRegistry

TILL = web.RequestKey("ksef_edge_till", str)  # the authenticated till's name, on the request


@dataclass
class TillsContext:
    registry: TillRegistry
    issued: Counter

    @classmethod
    def create(cls, registry: TillRegistry, metrics: CollectorRegistry) -> TillsContext:
        issued = Counter("ksef_edge_till_invoices_issued", "Invoices issued, by till", ["till"], registry=metrics)
        return cls(registry, issued)

    def count(self, request: web.Request) -> None:
        till = request.get(TILL)
        if till is not None:
            self.issued.labels(till=till).inc()


TILLS_KEY = web.AppKey("ksef_edge_tills", TillsContext)


def till_of_token(request: web.Request, presented: str) -> bool | None:
    """True/False when tills are in use (and the request is then marked with its till); None when not."""
    tills = request.app.get(TILLS_KEY)
    if tills is None:
        return None
    name = tills.registry.authenticate(presented)
    if name is None:
        return False
    request[TILL] = name
    return True


def request_till(request: web.Request) -> str | None:
    """The till this request comes from (stored with what it issues), or None without named tills."""
    return request.get(TILL)


def till_name(request: web.Request, invoice_id: int) -> str | None:
    """The till that issued a stored invoice (one indexed read)."""
    tills = request.app.get(TILLS_KEY)
    return tills.registry.till_of(invoice_id) if tills is not None else None
