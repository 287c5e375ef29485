"""Keeps an eye on the printer between receipts: its status in /v1/status and /metrics, and a wake-up
for waiting receipts the moment a fault (paper out, cover open) clears.

Receipts that fail for good are counted (`ksef_edge_receipts_failed_total`), so an invoice that the
customer did not get on paper raises an alarm a monitoring system can see.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge

from . import PrinterConfig, PrinterError
from .printer_status import TWO_WAY, PrinterStatus, StatusCheckedSender

log = logging.getLogger(__name__)

POLL_INTERVAL_S = 3.0
CONDITIONS = ("paper_out", "paper_near_end", "cover_open", "offline", "unreachable", "write_failed")


class PrinterWatch:
    def __init__(self, cfg: PrinterConfig, registry: CollectorRegistry | None = None,
                 interval_s: float = POLL_INTERVAL_S) -> None:
        self.cfg = cfg
        self.interval_s = interval_s
        self.sender = StatusCheckedSender(self._send, self._on_status)
        self.status: PrinterStatus | None = None
        self.unreachable: str | None = None
        self._task: asyncio.Task[None] | None = None
        r = registry or CollectorRegistry()
        self._condition = Gauge("ksef_edge_printer_condition",
                                "1 while the printer reports this condition (real-time status; unreachable: no answer)",
                                ["condition"], registry=r)
        for c in CONDITIONS:
            self._condition.labels(condition=c).set(0)
        self._known = Gauge("ksef_edge_printer_status_known", "1 when the printer answers real-time status queries",
                            registry=r)
        self._waiting = Gauge("ksef_edge_receipts_waiting", "Receipts queued for the printer (not printed yet)", registry=r)
        self._failed = Counter("ksef_edge_receipts_failed", "Receipts that could not be printed and will not be retried by themselves",
                               registry=r)

    # --- fed by the sender (printing thread) and the queue ---------------------------------------------------
    def _send(self, cfg: PrinterConfig, data: bytes) -> None:
        """The real write; a failure (unplugged, device gone, connection refused) sets `write_failed` until one succeeds."""
        from .escpos_output import send

        try:
            send(cfg, data)
        except Exception:
            self._condition.labels(condition="write_failed").set(1)
            raise
        self._condition.labels(condition="write_failed").set(0)

    def _on_status(self, status: PrinterStatus | None) -> None:
        self.status = status
        self.unreachable = None
        self._known.set(1 if status is not None else 0)
        for c in ("paper_out", "paper_near_end", "cover_open", "offline"):
            self._condition.labels(condition=c).set(1 if status is not None and getattr(status, c) else 0)
        self._condition.labels(condition="unreachable").set(0)

    def printer_failed(self, error: str) -> None:
        if self.cfg.connection in TWO_WAY and "status check" in error:
            self.unreachable = error
            self._condition.labels(condition="unreachable").set(1)

    def receipt_failed(self) -> None:
        self._failed.inc()

    def to_dict(self) -> dict[str, Any]:
        """`printer.status` in GET /v1/status."""
        if self.unreachable:
            return {"known": False, "fault": "unreachable", "paper": "unknown", "cover_open": None, "offline": True}
        if self.status is None:
            return {"known": False, "fault": None, "paper": "unknown", "cover_open": None, "offline": None}
        return {"known": True, **self.status.to_dict()}

    # --- polling while idle -----------------------------------------------------------------------------------
    def start(self, queue: Any) -> None:
        self._waiting.set_function(lambda: float(queue.depth))
        if self.cfg.connection in TWO_WAY and self.cfg.realtime_status and self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(queue), name="printer-watch")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None

    async def _run(self, queue: Any) -> None:
        while True:
            before = self.status.fault if self.status is not None else None
            try:
                status = await asyncio.to_thread(self.sender.poll, self.cfg)
            except PrinterError as exc:
                self.printer_failed(str(exc))
                status = None
            except Exception:
                log.exception("printer status poll failed")
                status = None
            cleared = status is not None and status.fault is None and (before is not None or self.unreachable is None)
            if cleared and queue.depth:
                queue.retry_now()  # paper is back: waiting receipts print now, not after the backoff
            await asyncio.sleep(self.interval_s)


__all__ = ["PrinterWatch"]
