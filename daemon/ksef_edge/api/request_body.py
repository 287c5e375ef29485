"""Reading a request body so that any broken body is a 4xx: bad compression, unknown encodings, oversize.

WHY: aiohttp decompresses `Content-Encoding: gzip|deflate` while the handler reads, and a corrupt
stream surfaces there as `ClientPayloadError`, which the generic handler turned into a 500. An
encoding aiohttp does not decode would reach the JSON parser still encoded, so it is refused by name.
"""
from __future__ import annotations

import asyncio

from aiohttp import ClientPayloadError, web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestPayloadError

from .errors import ApiError

ENCODINGS = frozenset({"", "identity", "gzip", "x-gzip", "deflate"})


async def read_body(request: web.Request, limit: int, timeout_s: float = 30.0) -> bytes:
    """The decoded body, at most `limit` bytes after decompression, complete within `timeout_s`."""
    encoding = request.headers.get("Content-Encoding", "").strip().lower()
    if encoding not in ENCODINGS:
        raise ApiError(
            415, "unsupported_content_encoding",
            f"Content-Encoding {encoding[:40]!r} is not supported; send the body as is, or gzip/deflate",
            "Content-Encoding",
        )
    if request.content_length is not None and request.content_length > limit:
        raise ApiError(413, "body_too_large", f"request body is {request.content_length} bytes; the limit is {limit}")
    try:
        return await asyncio.wait_for(request.read(), timeout_s)
    except TimeoutError:
        raise ApiError(408, "body_timeout", f"the request body did not arrive within {timeout_s:g} s; send it again") from None
    except web.HTTPRequestEntityTooLarge:
        raise ApiError(413, "body_too_large", f"request body exceeds {limit} bytes (after decompression)") from None
    except (ClientPayloadError, HttpProcessingError, RequestPayloadError) as exc:
        what = f"{encoding} data" if encoding not in ("", "identity") else "body"
        raise ApiError(
            400, "invalid_body_encoding", f"the {what} could not be read ({type(exc).__name__}); nothing was stored",
            "Content-Encoding" if encoding not in ("", "identity") else None,
        ) from None
