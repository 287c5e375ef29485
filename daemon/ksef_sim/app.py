"""The aiohttp application: KSeF API under /v2, Latarnia under /latarnia, pre-signed storage
URLs under /storage, admin under /admin; middlewares for availability, faults, rate limits and
KSeF-shaped errors."""
from __future__ import annotations

import asyncio
import logging
import socket
import struct

from aiohttp import web

from . import (
    routes_admin,
    routes_auth,
    routes_auth_sessions,
    routes_batch,
    routes_invoice_download,
    routes_online,
    routes_public,
    routes_query,
    routes_session_list,
    routes_sessions,
    routes_xades,
    spec,
    unserved,
)
from .config import SimConfig
from .errors import (
    HttpProblem,
    KsefError,
    bad_request,
    json_response,
    problem,
    too_many_requests,
)
from .http_util import STATE_KEY
from .processing import resume_pending
from .state import SimState
from .system_warning import HEADER, TEST_HEADER, header_value, warning

API_PREFIX = "/v2"
log = logging.getLogger("ksef_sim")


def reset_connection(request: web.Request) -> None:
    """Abort the TCP connection with RST (SO_LINGER 0): the client sees a connection reset."""
    transport = request.transport
    if transport is None:
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
    transport.abort()


def _fault_path(path: str) -> str:
    return path[len(API_PREFIX) + 1:] if path.startswith(API_PREFIX + "/") else path.lstrip("/")


@web.middleware
async def ksef_middleware(request: web.Request, handler):
    st: SimState = request.app[STATE_KEY]
    if request.path.startswith("/admin"):
        return await handler(request)
    if st.down_mode == "reset":
        reset_connection(request)
        return web.Response(status=503)
    if st.down_mode == "503":
        return json_response({"title": "Service Unavailable", "status": 503,
                              "detail": "KSeF jest niedostępny (ksef-sim: /admin/down)."}, 503,
                             "application/problem+json", {"Retry-After": "30"})
    fault = st.faults.pick(request.method, _fault_path(request.path))
    if fault is not None:
        log.info("fault %s on %s %s", fault.kind, request.method, request.path)
        if fault.kind == "reset":
            reset_connection(request)
            return web.Response(status=500)
        if fault.kind == "timeout":
            await asyncio.sleep(fault.delay_s or 0)
            reset_connection(request)
            return web.Response(status=504)
        if fault.kind == "slow":
            await asyncio.sleep(fault.delay_s or 0)
        elif fault.kind == "hold":
            await st.faults.hold(fault)
        elif fault.kind.isdigit():
            code = int(fault.kind)
            return json_response({"title": "Server Error", "status": code,
                                  "detail": f"Injected fault {code} (ksef-sim)."}, code, "application/problem+json")
    if request.path.startswith(API_PREFIX + "/"):
        op = spec.find_operation(request.method, request.path[len(API_PREFIX):])
        if op is not None:
            auth = request.headers.get("Authorization", "")
            context = st.signer.context_of(auth[7:]) if auth.startswith("Bearer ") else None
            rejection = st.rate_limiter.check(op, context, request.remote or "", st.clock.time())
            if rejection is not None:
                return too_many_requests(request, rejection.retry_after_s, rejection.detail, st.now_iso())
    try:
        response = await handler(request)
    except KsefError as err:
        response = bad_request(request, err, st.now_iso())
    except HttpProblem as err:
        response = problem(request, err, st.now_iso())
    except (web.HTTPNotFound, web.HTTPMethodNotAllowed) as exc:
        # Every answer on the API is KSeF-shaped JSON, never aiohttp's text (unserved.py).
        if not request.path.startswith(API_PREFIX + "/") and request.path != API_PREFIX:
            raise
        response = unserved.answer(request, exc, st.now_iso())
    if request.path.startswith(API_PREFIX + "/"):
        add_system_warning(request, response, st)
    if fault is not None and fault.kind == "drop":
        # commit then drop: the work is done and stored, the client never sees the answer
        reset_connection(request)
    return response


def add_system_warning(request: web.Request, response: web.StreamResponse, st: SimState) -> None:
    """X-System-Warning: configured warnings, plus the echo of X-Test-System-Warning on TE."""
    items = list(st.system_warnings)
    forced = request.headers.get(TEST_HEADER)
    if forced and st.config.environment in ("test", "sim"):
        code, sep, message = forced.partition(":")
        try:
            items.append(warning(code.strip().strip("[]"), message) if sep else warning("TEST", forced))
        except ValueError:
            pass
    value = header_value(items)
    if value is not None and not response.prepared:
        response.headers[HEADER] = value


def make_app(config: SimConfig) -> web.Application:
    state = SimState(config)
    app = web.Application(middlewares=[routes_admin.admin_errors, ksef_middleware],
                          client_max_size=110 * 1024 * 1024)
    app[STATE_KEY] = state
    # routes_auth_sessions first: GET /v2/auth/sessions must not fall into GET /v2/auth/{referenceNumber}
    for module in (routes_auth_sessions, routes_auth, routes_xades, routes_invoice_download, routes_session_list,
                   routes_online, routes_batch, routes_sessions, routes_public, routes_query, routes_admin):
        app.add_routes(module.routes)

    async def on_startup(app: web.Application) -> None:
        resume_pending(state)

    async def on_cleanup(app: web.Application) -> None:
        for task in list(state.tasks):
            task.cancel()
        await asyncio.gather(*state.tasks, return_exceptions=True)
        state.store.close()

    app.on_startup.append(on_startup)
    app.on_cleanup.append(on_cleanup)
    return app
