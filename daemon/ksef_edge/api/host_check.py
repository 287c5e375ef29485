"""Which listen addresses need TLS, and the `Host` header check against DNS rebinding.

WHY: a web page in the shop's browser can point its own domain at the device's address (DNS
rebinding) and then talk to the API as a same-origin page. Such requests carry the attacker's
`Host`; only the configured names (`[api] allowed_hosts`) and loopback literals are answered.
"""
from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable

from aiohttp import web

from .errors import error_response

LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
ALLOWED_HOSTS_KEY = web.AppKey("ksef_edge_allowed_hosts", frozenset)


def allowed_hosts(listen_host: str, configured: Iterable[str]) -> frozenset[str]:
    names = set(LOOPBACK_HOSTS) | {h.strip().lower() for h in configured if h.strip()}
    if listen_host not in ("0.0.0.0", "::", ""):
        names.add(listen_host.lower())
    return frozenset(names)


def host_of(header: str) -> str:
    """`Host` without its port; `[::1]:8787` -> `::1`."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1:].partition("]")[0]
    if header.count(":") == 1:
        return header.partition(":")[0]
    return header


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def host_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    allowed = request.app.get(ALLOWED_HOSTS_KEY)
    if allowed is not None and host_of(request.headers.get("Host", "")) not in allowed:
        return error_response(
            421, "wrong_host",
            "this device answers only to its configured names; add the name the POS uses to [api] allowed_hosts",
            "Host",
        )
    return await handler(request)
