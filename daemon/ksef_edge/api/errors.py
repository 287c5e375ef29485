"""One error shape for every 4xx/5xx: `{"error": {"code", "message", "field"}}`."""
from __future__ import annotations

from aiohttp import web

from ..refusal import Refusal


class ApiError(Refusal):
    """A refusal raised by the API layer itself; services raise `Refusal` subclasses directly."""


def error_response(status: int, code: str, message: str, field: str | None = None) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message, "field": field}}, status=status)
