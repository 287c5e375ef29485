"""The shop's books over HTTP: `/v1/reports/day` (JSON, `.bin` ESC/POS, `.png`, `/print`) and `/v1/search/invoices`.

A day: `?date=YYYY-MM-DD` (default: today, Polish time). A till shift: `?from=...&to=...`, ISO
date-times with an offset (e.g. `2026-12-07T06:00:00+01:00`), at most 7 days apart.
"""
from __future__ import annotations

import asyncio
import datetime as dt

from aiohttp import web

from ..civil_time import warsaw_date as civil_date
from ..printing import PrinterConfig
from ..printing.receipt_layout import Block
from ..reports.day_query import day_report, shift_report
from ..reports.day_report import DayReport, StoredXmlError
from ..store.search import search
from .errors import ApiError
from .search_query import parse_search_query
from .state_key import STATE_KEY

SHIFT_MAX = dt.timedelta(days=7)
PAPERS = ("58mm", "80mm")


def register_reports(app: web.Application) -> None:
    routes = _Routes()
    app.router.add_get("/v1/reports/day", routes.get_json)
    app.router.add_get("/v1/reports/day.bin", routes.get_escpos)
    app.router.add_get("/v1/reports/day.png", routes.get_png)
    app.router.add_post("/v1/reports/day/print", routes.print_report)
    app.router.add_get("/v1/search/invoices", routes.search_invoices)
    app.router.add_get("/v1/invoices/{id}.pdf", routes.invoice_pdf)


def _datetime(raw: str, name: str) -> dt.datetime:
    try:
        value = dt.datetime.fromisoformat(raw)
    except ValueError:
        raise ApiError(400, "invalid_query", f"{name} must be a date-time such as 2026-12-07T06:00:00+01:00", name) from None
    if value.utcoffset() is None:
        raise ApiError(400, "invalid_query", f"{name} needs a UTC offset, e.g. +01:00", name)
    if not 2000 <= value.year <= 2100:  # also keeps `start + SHIFT_MAX` and the UTC conversion from overflowing
        raise ApiError(400, "invalid_query", f"{name} must be a date-time between 2000 and 2100", name)
    return value


class _Routes:
    async def _report(self, request: web.Request) -> DayReport:
        state = request.app[STATE_KEY]
        q = request.query
        try:
            if q.get("from") or q.get("to"):
                if q.get("date"):
                    raise ApiError(400, "invalid_query", "give either date or from/to, not both", "date")
                if not (q.get("from") and q.get("to")):
                    raise ApiError(400, "invalid_query", "a shift needs both from and to", "to" if q.get("from") else "from")
                start, end = _datetime(q["from"], "from"), _datetime(q["to"], "to")
                if not start < end <= start + SHIFT_MAX:
                    raise ApiError(400, "invalid_query", "to must be after from and at most 7 days later", "to")
                return await shift_report(state.store, start, end)
            if q.get("date"):
                try:
                    day = dt.date.fromisoformat(q["date"])
                except ValueError:
                    raise ApiError(400, "invalid_query", "date must be YYYY-MM-DD", "date") from None
            else:
                day = civil_date(state.now())
            return await day_report(state.store, day)
        except StoredXmlError as exc:
            raise ApiError(409, "stored_document_unreadable", f"the report cannot be made: {exc}") from None

    def _printer_config(self, request: web.Request) -> PrinterConfig:
        from ..issuing.receipts import printer_config

        state = request.app[STATE_KEY]
        cfg = printer_config(state.config.printer)
        paper = request.query.get("paper")
        if paper is not None:
            if paper not in PAPERS:
                raise ApiError(400, "invalid_query", "paper must be 58mm or 80mm", "paper")
            cfg = PrinterConfig(paper="58mm" if paper == "58mm" else "80mm")
        return cfg

    def _blocks(self, request: web.Request, report: DayReport, cfg: PrinterConfig) -> list[Block]:
        from ..reports.day_print import day_report_blocks

        state = request.app[STATE_KEY]
        return day_report_blocks(report, cfg.line_columns, printed_at=state.now().astimezone(),
                                 codec=cfg.python_codec, seller_name=state.config.seller.name)

    async def get_json(self, request: web.Request) -> web.Response:
        return web.json_response((await self._report(request)).to_dict())

    async def get_escpos(self, request: web.Request) -> web.Response:
        from ..printing.escpos_output import render

        cfg = self._printer_config(request)
        blocks = self._blocks(request, await self._report(request), cfg)
        return web.Response(body=render(blocks, cfg), content_type="application/octet-stream")

    async def get_png(self, request: web.Request) -> web.Response:
        from ..printing.preview import preview_png

        cfg = self._printer_config(request)
        blocks = self._blocks(request, await self._report(request), cfg)
        png = await asyncio.get_running_loop().run_in_executor(None, preview_png, blocks, cfg)
        return web.Response(body=png, content_type="image/png")

    async def print_report(self, request: web.Request) -> web.Response:
        state = request.app[STATE_KEY]
        printer = state.printer
        if printer is None:
            raise ApiError(409, "no_printer", "no printer is configured; set [printer] in the device config")
        report = await self._report(request)
        blocks = self._blocks(request, report, self._printer_config(request))
        job = f"day-report-{state.now().timestamp():.0f}"
        printer.print_blocks(job, blocks)
        return web.json_response({"job": job, "print_state": "pending", "report": report.to_dict()}, status=202)

    async def search_invoices(self, request: web.Request) -> web.Response:
        """Newest first; `next_before` is the `before` of the next page (null: no more)."""
        query = parse_search_query(request.query)
        hits, next_before = await search(request.app[STATE_KEY].store, query)
        return web.json_response({"invoices": [h.to_dict() for h in hits], "next_before": next_before})

    async def invoice_pdf(self, request: web.Request) -> web.Response:
        """The buyer's A4 PDF (`?copy=1`: marked DUPLIKAT with today's date), from the stored XML."""
        from ..printing.invoice_pdf import PdfFontMissingError, invoice_pdf
        from ..store import NotFoundError

        state = request.app[STATE_KEY]
        raw_id = request.match_info["id"]
        if not raw_id.isdigit() or len(raw_id) > 18:
            raise ApiError(404, "not_found", f"no invoice with id {raw_id!r}", "id")
        invoice_id = int(raw_id)
        try:
            record = await state.store.get(invoice_id)
            xml = await state.store.get_xml(invoice_id)
        except NotFoundError:
            raise ApiError(404, "not_found", f"no invoice with id {invoice_id}", "id") from None
        copy = request.query.get("copy") in ("1", "true")
        copy_date = civil_date(state.now()) if copy else None
        try:
            pdf = await asyncio.get_running_loop().run_in_executor(None, lambda: invoice_pdf(
                xml, kod1_url=record.kod1_url, kod2_url=record.kod2_url, ksef_number=record.ksef_number,
                copy_date=copy_date))
        except PdfFontMissingError as exc:
            raise ApiError(503, "pdf_font_missing", str(exc)) from None
        name = "".join(c if c.isalnum() else "_" for c in record.number)
        return web.Response(body=pdf, content_type="application/pdf",
                            headers={"Content-Disposition": f'inline; filename="{name}.pdf"'})
