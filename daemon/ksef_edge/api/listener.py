"""The API's listening socket: TCP or Unix, optionally TLS, always behind a `ConnectionGuard`.

WHY its own site class: aiohttp's TCPSite hands its protocol factory straight to asyncio, with no
cap on connections and no deadline on a request head; this site puts `ConnectionGuard` in between
and gives a TLS handshake the same deadline as a request head. It also makes sure the process may
open enough descriptors for the cap (the unit's LimitNOFILE; `ensure_descriptors`).
"""
from __future__ import annotations

import asyncio
import logging
import resource
import ssl
from typing import Any

from aiohttp import web

from .connections import ConnectionGuard, ConnectionLimits

log = logging.getLogger("ksef_edge.api.listener")

DESCRIPTORS_RESERVE = 256  # store, WAL, uplink, printer, logs, backups beside the API's connections


def ensure_descriptors(connections_max: int) -> int:
    """Raise the soft RLIMIT_NOFILE to fit the cap plus a reserve; refuse to start when the hard limit cannot."""
    need = connections_max + DESCRIPTORS_RESERVE
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < need:
        if hard != resource.RLIM_INFINITY and hard < need:
            raise RuntimeError(
                f"[api] connections_max = {connections_max} needs {need} open files but the hard limit is {hard}; "
                "raise LimitNOFILE in the unit or lower connections_max"
            )
        resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))
        log.info("raised the open-files limit from %d to %d for %d API connections", soft, need, connections_max)
        soft = need
    return int(soft)


def lan_tls_context(api: Any) -> ssl.SSLContext | None:
    """The TLS context when [api] has a certificate; a loud warning for plain HTTP facing the LAN."""
    from ..loopback import is_loopback
    from .tls import server_context

    if api.tls_cert_file is not None:
        return server_context(api.tls_cert_file, api.tls_key_file)
    if api.unix_socket is None and not is_loopback(api.listen_host):
        for _ in range(3):
            log.warning("SECURITY: the API listens on %s WITHOUT TLS (allow_plain_http_on_lan = true): the POS token "
                        "and buyers' data cross the network in clear text; run `ksef-edge tls init`", api.listen_host)
    return None


class GuardedSite(web.BaseSite):
    """`web.TCPSite`/`web.UnixSite` with a connection cap and head deadlines (see `connections`)."""

    def __init__(
        self, runner: web.BaseRunner, limits: ConnectionLimits, *, host: str | None = None, port: int = 0,
        path: str | None = None, ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        super().__init__(runner, ssl_context=ssl_context, backlog=min(1024, max(128, limits.connections_max)))
        self._host, self._port, self._path = host, port, path
        self._limits = limits
        self.guard: ConnectionGuard | None = None

    @property
    def name(self) -> str:
        scheme = "https" if self._ssl_context else "http"
        return f"{scheme}://unix:{self._path}:" if self._path else f"{scheme}://{self._host}:{self.bound[1]}"

    @property
    def tls(self) -> bool:
        return self._ssl_context is not None

    @property
    def bound(self) -> tuple[str, int]:
        sockets = getattr(self._server, "sockets", None) or ()
        return tuple(sockets[0].getsockname()[:2]) if sockets else (str(self._host), self._port)

    async def start(self) -> None:
        await super().start()
        loop = asyncio.get_running_loop()
        server = self._runner.server
        assert server is not None
        self.guard = ConnectionGuard(server, self._limits)
        handshake: Any = self._limits.header_timeout_s if self._ssl_context is not None else None
        if self._path is not None:
            self._server = await loop.create_unix_server(
                self.guard, self._path, ssl=self._ssl_context, backlog=self._backlog, ssl_handshake_timeout=handshake,
            )
        else:
            self._server = await loop.create_server(
                self.guard, self._host, self._port, ssl=self._ssl_context, backlog=self._backlog,
                reuse_address=True, ssl_handshake_timeout=handshake,
            )
