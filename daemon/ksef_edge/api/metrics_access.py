"""Who may read /metrics: Prometheus with its own token, else only this machine when the API faces the LAN.

WHY: /metrics names queue sizes, deadlines and refusal counts; with the API opened to the shop's
LAN it would be readable by anyone there. It never takes the POS tokens (a till must not read it).
"""
from __future__ import annotations

import hmac

from aiohttp import web

from ..config import ApiConfig
from ..loopback import is_loopback
from .errors import ApiError


def check_metrics_access(request: web.Request, api: ApiConfig) -> None:
    if api.metrics_token is not None:
        scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(presented.strip().encode(), api.metrics_token.encode()):
            raise ApiError(401, "unauthorized", "send the metrics token ([api] metrics_token_file) as a bearer token")
        return
    if api.unix_socket is None and not is_loopback(api.listen_host) and not is_loopback(request.remote or ""):
        raise ApiError(403, "metrics_loopback_only",
                       "/metrics answers the LAN only with its own token: set [api] metrics_token_file")
