"""While the daemon stops, it issues nothing: a POS request gets 503 `stopping` at once.

A stop (systemctl stop, an update, a reboot) must not race an issuance: an invoice numbered and
signed in the last second could miss its answer to the till. So from the moment the stop begins,
the issuing endpoints refuse with a message the cashier's page shows as is, and the till may retry
with the same Idempotency-Key once the daemon is back. Reads (lists, receipts, status) still work.
"""
from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable

from aiohttp import web

from .errors import error_response

STOPPING_KEY = web.AppKey("ksef_edge_stopping", asyncio.Event)
CODE = "stopping"
MESSAGE = ("urządzenie jest właśnie zatrzymywane (restart lub aktualizacja) - faktury NIE wystawiono; "
           "spróbuj ponownie za minutę (ten sam paragon, bez zmian)")
_ISSUING = re.compile(r"^/v1/invoices(?:/[^/]+/corrections)?/?$")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def issues(request: web.Request) -> bool:
    """POST /v1/invoices and POST /v1/invoices/{id}/corrections: the requests that allocate a number."""
    return request.method == "POST" and _ISSUING.match(request.path) is not None


@web.middleware
async def refuse_while_stopping(request: web.Request, handler: Handler) -> web.StreamResponse:
    stopping = request.app.get(STOPPING_KEY)
    if stopping is not None and stopping.is_set() and issues(request):
        response = error_response(503, CODE, MESSAGE)
        response.headers["Retry-After"] = "60"
        return response
    return await handler(request)


__all__ = ["CODE", "MESSAGE", "STOPPING_KEY", "issues", "refuse_while_stopping"]
