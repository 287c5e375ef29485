"""Does the API still answer a client? A real request to /healthz over the daemon's own listener.

WHY: the watchdog used to ping while the event loop and the store were fine even when no client could
get an answer (all descriptors taken by idle connections), so systemd never restarted the daemon.
Now WATCHDOG=1 is sent only when this check gets an HTTP answer through the same socket a till uses.
"""
from __future__ import annotations

import asyncio
import contextlib
import ssl

HEAD = b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nUser-Agent: ksef-edge-watchdog\r\nConnection: close\r\n\r\n"


def _connect_host(host: str) -> str:
    return {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)


async def api_answers(bound: tuple[str, int] | str, *, tls: bool, timeout_s: float = 2.0) -> bool:
    """True when GET /healthz over `bound` (host, port) or a Unix socket path gets an HTTP status line
    that is not the connection guard's refusal (`too_many_connections`)."""
    context: ssl.SSLContext | None = None
    if tls:  # ourselves on loopback: the point is reachability, not identity
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    writer: asyncio.StreamWriter | None = None
    try:
        async with asyncio.timeout(timeout_s):
            if isinstance(bound, str):
                reader, writer = await asyncio.open_unix_connection(bound, ssl=context)
            else:
                reader, writer = await asyncio.open_connection(_connect_host(bound[0]), bound[1], ssl=context)
            writer.write(HEAD)
            await writer.drain()
            answer = await reader.read(4096)
    except (TimeoutError, OSError, ssl.SSLError):
        return False
    finally:
        if writer is not None:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
    return answer.startswith(b"HTTP/1.") and b"too_many_connections" not in answer
