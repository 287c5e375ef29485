"""Routes of the page (`/`, `/ui/...`) and of the downloads it shows (`/v1/invoices/{id}/receipt.png` ...).

The `/v1/` routes sit behind the API's bearer-token middleware like every other API call; the
`/ui/` files are static and public (they hold no data).
"""
from __future__ import annotations

import asyncio
import logging
from importlib import resources
from typing import Any

from aiohttp import web

from ..issuing.receipts import printer_config, receipt_blocks
from ..refusal import Refusal
from ..store import NotFoundError

log = logging.getLogger(__name__)

STATIC_FILES = {  # name -> content type; nothing else under /ui/ is served
    "index.html": "text/html",
    "app.js": "text/javascript",
    "books.js": "text/javascript",  # the day report and search tab (issue #20)
    "app.css": "text/css",
}
# The page must not be framed by another site, and runs only its own script.
SECURITY_HEADERS = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'self'; img-src 'self' blob: data:; object-src 'none'; "
    "frame-ancestors 'none'; base-uri 'none'",
    "Cache-Control": "no-cache",
}


def register_pages(app: web.Application, state: Any) -> None:
    """Add the page and its API helpers to the daemon's app (`state`: `daemon_state.DaemonState`)."""
    pages = _Pages(state)
    app.router.add_get("/", pages.root)
    app.router.add_get("/ui", pages.root)
    app.router.add_get("/ui/", pages.index)
    app.router.add_get("/ui/{name}", pages.static)
    app.router.add_get("/v1/invoices/{id}/receipt.png", pages.receipt_png)
    app.router.add_get("/v1/invoices/{id}/receipt.bin", pages.receipt_escpos)
    app.router.add_get("/v1/invoices/{id}/upo.xml", pages.upo_xml)
    app.router.add_get("/v1/catalogue", pages.catalogue)


def _static_bytes(name: str) -> bytes:
    return resources.files(__package__).joinpath("static", name).read_bytes()


class _Pages:
    def __init__(self, state: Any) -> None:
        from ..catalogue import FILE_NAME, Catalogue

        self._state = state
        source = getattr(state.config, "source", None)
        self._catalogue = Catalogue(source.parent / FILE_NAME if source is not None else None)

    async def catalogue(self, request: web.Request) -> web.Response:
        """The shop's products (`products.csv` next to the device config), read again when it changes."""
        body = await asyncio.get_running_loop().run_in_executor(None, self._catalogue.to_json)
        return web.json_response(body)

    async def root(self, request: web.Request) -> web.StreamResponse:
        raise web.HTTPFound("/ui/")

    async def index(self, request: web.Request) -> web.Response:
        return self._file("index.html")

    async def static(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name not in STATIC_FILES:
            raise Refusal(404, "not_found", f"no page file {name!r}")
        return self._file(name)

    def _file(self, name: str) -> web.Response:
        resp = web.Response(body=_static_bytes(name), content_type=STATIC_FILES[name], charset="utf-8")
        resp.headers.update(SECURITY_HEADERS)
        return resp

    async def receipt_png(self, request: web.Request) -> web.Response:
        """PNG preview of the receipt: the first print, or `?copy=1` for what a reprint prints now."""
        from ..printing.preview import preview_png

        cfg, blocks = await self._blocks(request)
        png = await asyncio.get_running_loop().run_in_executor(None, preview_png, blocks, cfg)
        return web.Response(body=png, content_type="image/png", headers={"Cache-Control": "no-store"})

    async def receipt_escpos(self, request: web.Request) -> web.Response:
        """The ESC/POS bytes of the receipt (for support: replay on a printer with `cat > /dev/usb/lp0`)."""
        from ..printing.escpos_output import render

        cfg, blocks = await self._blocks(request)
        data = await asyncio.get_running_loop().run_in_executor(None, render, blocks, cfg)
        return web.Response(body=data, content_type="application/octet-stream", headers={"Cache-Control": "no-store"})

    async def upo_xml(self, request: web.Request) -> web.Response:
        record = await self._record(request)
        if record.upo is None:
            raise Refusal(404, "no_upo", f"invoice {record.number} has no UPO yet (state {record.state.value}); "
                           "KSeF issues it after accepting the invoice")
        filename = f"UPO-{record.ksef_number or record.id}.xml"
        return web.Response(body=record.upo, content_type="application/xml", charset="utf-8",
                            headers={"Content-Disposition": f'inline; filename="{filename}"'})

    async def _blocks(self, request: web.Request) -> tuple[Any, list[Any]]:
        record = await self._record(request)
        copy = request.query.get("copy", "") in ("1", "true", "yes")
        cfg = printer_config(self._state.config.printer)
        try:
            blocks = await receipt_blocks(self._state.store, record, cfg, copy=copy)
        except ValueError as exc:  # Fa3ReadError, UnprintableTextError: the stored row cannot be laid out
            log.warning("receipt of invoice %s cannot be laid out: %s", record.number, exc)
            raise Refusal(409, "receipt_unavailable",
                           f"the receipt of {record.number} cannot be laid out: {getattr(exc, 'message', exc)}") from None
        return cfg, blocks

    async def _record(self, request: web.Request) -> Any:
        raw = request.match_info["id"]
        if not raw.isascii() or not raw.isdigit() or len(raw) > 18:
            raise Refusal(404, "not_found", f"no invoice with id {raw!r}")
        try:
            return await self._state.store.get(int(raw))
        except NotFoundError as exc:
            raise Refusal(404, "not_found", str(exc)) from None
