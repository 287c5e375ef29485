"""Status, health and metrics: what the page, systemd's watchdog and Prometheus read (no invoice data)."""
from __future__ import annotations

import datetime as dt
from typing import Any

from aiohttp import web

from .. import __version__
from ..civil_time import end_of_day
from ..clock_sync import ClockSync
from ..issuing.kor_status import correction_status
from ..issuing.receipts import ReceiptPrinter
from ..metrics import CONTENT_TYPE
from .metrics_access import check_metrics_access
from .openapi import openapi_spec
from .state_key import STATE_KEY
from .tills import TILL


async def get_status(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    problems = await state.problems()
    counts = await state.store.counts_by_state()
    deadline = await state.store.nearest_deadline()
    floor = await state.store.clock_floor()
    now = state.now()
    body: dict[str, Any] = {
        "version": __version__,
        "can_issue": not problems,
        "problems": problems,
        "queue": counts,
        "nearest_deadline": deadline.isoformat() if deadline else None,
        "ksef": await state.ksef_status(),
        "certificate": state.certificate_json(),
        "clock": {
            "now": now.isoformat(timespec="seconds"),
            "sync": state.clock_sync().value,
            "floor": floor.isoformat(timespec="seconds") if floor else None,
        },
        "printer": {
            "state": state.printer.state if state.printer is not None else "not_configured",
            "queue": await state.store.counts_by_print_state(),
            "status": state.printer.watch.to_dict() if isinstance(state.printer, ReceiptPrinter) else None,
        },
        "corrections": await correction_status(state.store, now),
        "backup": await state.backup_status(),
        "till": request.get(TILL),  # the till whose token asked (named tills: store/tills.py)
    }
    return web.json_response(body)


async def openapi_document(request: web.Request) -> web.Response:
    """The OpenAPI 3.1 description of this API (api/openapi.py); no token needed, it holds no data."""
    return web.json_response(openapi_spec())


async def healthz(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    problems = await state.problems()
    return web.json_response({"ok": not problems, "problems": problems, "version": __version__},
                             status=200 if not problems else 503)


async def metrics(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    check_metrics_access(request, state.config.api)
    m = state.metrics
    if state.uplink is not None:  # first: it persists the effective deadlines read below (cached 5 s)
        await state.uplink.refresh_status()
    for name, n in (await state.store.counts_by_state()).items():
        m.invoices.labels(state=name).set(n)
    deadline = await state.store.nearest_deadline()
    m.nearest_deadline.set(_end_of_day_ts(deadline) if deadline else 0)
    m.cert_not_after.set(state.certificate.not_after.timestamp())
    m.clock_synced.set({ClockSync.SYNCHRONIZED: 1, ClockSync.UNSYNCHRONIZED: 0}.get(state.clock_sync(), -1))
    m.can_issue.set(0 if await state.problems() else 1)
    corrections = await correction_status(state.store, state.now())
    m.corrections_waiting.set(corrections["waiting"])
    m.corrections_at_risk.set(len(corrections["alarms"]))
    if state.backup is not None:  # ksef_edge_backup_* are set by the monitor's refresh (throttled to 5 s)
        await state.backup_status()
    return web.Response(body=m.render(), headers={"Content-Type": CONTENT_TYPE})


def _end_of_day_ts(day: dt.date) -> float:
    return end_of_day(day).timestamp()
