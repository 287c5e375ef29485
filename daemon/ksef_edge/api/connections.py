"""Bounded connections for the POS API: a cap, a deadline for each request head, keep-alive limits.

WHY: aiohttp never times out a half-sent request head and accepts connections until the process
runs out of descriptors; 1 100 idle loopback connections once filled the 1 024 descriptors and
`/healthz` and `POST` stopped answering. `ConnectionGuard` wraps aiohttp's protocol factory:

- every connection must deliver a complete request head within `header_timeout_s` of opening or of
  its previous response; else it is closed (this is also the keep-alive idle limit);
- at most `connections_max` connections are open. At the cap a new connection first pushes out the
  oldest one that is not in a request (idle or half-sent), so idle sockets cannot lock a till out;
  only when every connection is inside a request is the new one refused with a plain 503;
- a connection serves at most `keepalive_requests_max` requests, then `Connection: close`.

Body read timeouts are in `request_body.read_body`; the TLS handshake deadline in `listener`.
"""
from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

log = logging.getLogger("ksef_edge.api.connections")

_REFUSAL_BODY = json.dumps({"error": {
    "code": "too_many_connections",
    "message": "the device is busy with too many open connections; retry in a second",
    "field": None,
}}).encode()
REFUSAL = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nRetry-After: 1\r\n"
    b"Connection: close\r\nContent-Length: " + str(len(_REFUSAL_BODY)).encode() + b"\r\n\r\n" + _REFUSAL_BODY
)


@dataclass(frozen=True)
class ConnectionLimits:
    connections_max: int = 256
    header_timeout_s: float = 10.0
    keepalive_requests_max: int = 1000


@dataclass
class GuardStats:
    """Counts for /metrics and tests."""

    open: int = 0
    refused: int = 0
    evicted: int = 0
    head_timeouts: int = 0


class ConnectionGuard:
    """The protocol factory given to `loop.create_server`: one `GuardedProtocol` per connection."""

    def __init__(self, server: Callable[[], Any], limits: ConnectionLimits) -> None:
        self._server = server
        self.limits = limits
        self.stats = GuardStats()
        self._live: dict[GuardedProtocol, None] = {}  # insertion order = age

    def __call__(self) -> GuardedProtocol:
        return GuardedProtocol(self)

    def admit(self, conn: GuardedProtocol) -> bool:
        if len(self._live) >= self.limits.connections_max:
            waiting = next((c for c in self._live if not c.in_request), None)
            if waiting is None:
                self.stats.refused += 1
                log.warning("connection refused: %d connections are all inside a request", len(self._live))
                return False
            self.stats.evicted += 1
            waiting.close("pushed out by a new connection at the cap")
        self._live[conn] = None
        self.stats.open = len(self._live)
        return True

    def forget(self, conn: GuardedProtocol) -> None:
        self._live.pop(conn, None)
        self.stats.open = len(self._live)

    def new_handler(self) -> Any:
        return self._server()


class GuardedProtocol(asyncio.Protocol):
    """Forwards to aiohttp's RequestHandler; adds the head deadline and the request count."""

    def __init__(self, guard: ConnectionGuard) -> None:
        self._guard = guard
        self._inner: Any = None
        self._transport: asyncio.BaseTransport | None = None
        self._timer: asyncio.TimerHandle | None = None
        self.in_request = False
        self.requests = 0

    # -- asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport
        if not self._guard.admit(self):
            if isinstance(transport, asyncio.WriteTransport):
                transport.write(REFUSAL)
            transport.close()
            return
        self._inner = self._guard.new_handler()
        self._inner.connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        if self._inner is not None:
            self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received() if self._inner is not None else None

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        self._guard.forget(self)
        if self._inner is not None:
            self._inner.connection_lost(exc)

    def pause_writing(self) -> None:
        if self._inner is not None:
            self._inner.pause_writing()

    def resume_writing(self) -> None:
        if self._inner is not None:
            self._inner.resume_writing()

    # -- request bracket (from `guard_middleware`)
    def request_started(self) -> bool:
        """A full head arrived: stop the head deadline. False when the keep-alive request limit is reached."""
        self._disarm()
        self.in_request = True
        self.requests += 1
        return self.requests < self._guard.limits.keepalive_requests_max

    def request_finished(self) -> None:
        self.in_request = False
        self._arm()

    def close(self, why: str) -> None:
        log.info("closing connection: %s", why)
        self._disarm()
        self._guard.forget(self)
        if self._transport is not None:
            self._transport.close()

    def _arm(self) -> None:
        self._disarm()
        self._timer = asyncio.get_running_loop().call_later(self._guard.limits.header_timeout_s, self._head_timeout)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _head_timeout(self) -> None:
        self._timer = None
        if not self.in_request:
            self._guard.stats.head_timeouts += 1
            self.close(f"no complete request within {self._guard.limits.header_timeout_s:g} s")


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def guard_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Brackets each request for its connection's `GuardedProtocol` (outermost middleware)."""
    transport = request.transport
    conn = transport.get_protocol() if transport is not None else None
    if not isinstance(conn, GuardedProtocol):  # a test client or another site: nothing to bracket
        return await handler(request)
    keep = conn.request_started()
    try:
        response = await handler(request)
        if not keep:
            response.force_close()
        return response
    finally:
        conn.request_finished()
