"""The printing worker: issuance stores the invoice, then `submit()`s a job and returns at once.

One printer, one FIFO. The head job is tried; when the printer is off, unplugged, out of paper or a write
fails, the job stays queued as `failed_retrying` with the error, and is retried with exponential backoff
(capped), so nothing is lost and the till never waits. Every state change goes to `on_state(invoice_id,
state, error)`, which the daemon wires to the store's `print_state` (the store is not imported here).
"""
from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any, Union

from . import PrinterConfig, PrinterConfigError
from .metrics import PrintTally
from .receipt_layout import Block

log = logging.getLogger(__name__)


class PrintState(str, Enum):
    PENDING = "pending"  # queued, not tried yet (or waiting behind another receipt)
    PRINTING = "printing"
    PRINTED = "printed"
    FAILED_RETRYING = "failed_retrying"  # the printer failed; still queued, retried with backoff
    FAILED = "failed"  # will not be retried by itself (receipt cannot be rendered, bad config, attempts exhausted)


InvoiceId = Hashable  # the store's integer id in the daemon; kept as given, so the callback gets it back
StateCallback = Callable[[Any, PrintState, Union[str, None]], Union[Awaitable[None], None]]
Payload = Union[bytes, Sequence[Block]]


@dataclass(frozen=True)
class JobStatus:
    invoice_id: InvoiceId
    state: PrintState
    attempts: int
    last_error: str | None
    copy: bool


@dataclass
class _Job:
    invoice_id: InvoiceId
    payload: Payload
    copy: bool
    state: PrintState = PrintState.PENDING
    attempts: int = 0
    last_error: str | None = None
    not_before: float = 0.0

    def status(self) -> JobStatus:
        return JobStatus(self.invoice_id, self.state, self.attempts, self.last_error, self.copy)


class PrintQueue:
    """Background printing. Call `submit()` from the event loop thread; run `start()` once per process."""

    def __init__(
        self,
        cfg: PrinterConfig,
        *,
        on_state: StateCallback | None = None,
        send: Callable[[PrinterConfig, bytes], None] | None = None,
        render: Callable[[Sequence[Block], PrinterConfig], bytes] | None = None,
        backoff_initial: float = 1.0,
        backoff_max: float = 60.0,
        max_attempts: int | None = None,
        keep_finished: int = 200,
    ) -> None:
        from . import escpos_output

        self.cfg = cfg
        self._on_state = on_state
        self._send = send or escpos_output.send
        self._render = render or escpos_output.render
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.max_attempts = max_attempts
        self._queue: deque[_Job] = deque()
        self._finished: OrderedDict[InvoiceId, JobStatus] = OrderedDict()
        self._keep_finished = keep_finished
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._idle = asyncio.Event()
        self._idle.set()
        self._notices: deque[tuple[InvoiceId, PrintState, str | None]] = deque()
        self._notify_lock = asyncio.Lock()
        self.printer_error: str | None = None  # last printer failure, None once a receipt printed
        self.tally = PrintTally()  # for /metrics (printing.metrics.PrinterCollector)

    # --- the till's side: never blocks, never raises for printer trouble -------------------------------------
    def submit(self, invoice_id: InvoiceId, payload: Payload, *, copy: bool = False) -> JobStatus:
        """Queue a receipt. A second submit for a receipt still waiting replaces its content (the newest
        layout, e.g. with the KSeF number) and retries now; a copy request never demotes an unprinted original."""
        for job in self._queue:
            if job.invoice_id == invoice_id and job.state is not PrintState.PRINTING:
                if not copy:
                    job.payload = payload
                job.not_before = 0.0
                self._wake.set()
                return job.status()
        job = _Job(invoice_id, payload, copy)
        self._queue.append(job)
        self._finished.pop(invoice_id, None)
        self._idle.clear()
        self._notify(job)
        self._wake.set()
        return job.status()

    def retry_now(self) -> None:
        """The printer is ready again (e.g. paper loaded): try the waiting receipts now, not after the backoff."""
        for job in self._queue:
            job.not_before = 0.0
        self._wake.set()

    def status(self, invoice_id: InvoiceId) -> JobStatus | None:
        for job in reversed(self._queue):
            if job.invoice_id == invoice_id:
                return job.status()
        return self._finished.get(invoice_id)

    def queued(self) -> list[JobStatus]:
        return [job.status() for job in self._queue]

    @property
    def depth(self) -> int:
        return len(self._queue)

    # --- the worker ------------------------------------------------------------------------------------------
    def start(self) -> asyncio.Task[None]:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name="print-queue")
        return self._task

    async def stop(self) -> None:
        """Stop the worker; queued jobs stay in memory (the store's print_state says what to requeue on start)."""
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None

    async def wait_idle(self, timeout: float | None = None) -> bool:
        """True once the queue is empty (everything printed or failed for good)."""
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
            return True
        except asyncio.TimeoutError:
            return False

    async def _run(self) -> None:
        while True:
            if not self._queue:
                self._idle.set()
                self._wake.clear()
                await self._wake.wait()
                continue
            job = self._queue[0]
            delay = job.not_before - time.monotonic()
            if delay > 0:
                self._wake.clear()
                try:
                    await asyncio.wait_for(self._wake.wait(), delay)
                except asyncio.TimeoutError:
                    pass
                continue
            await self._attempt(job)

    async def _attempt(self, job: _Job) -> None:
        job.state = PrintState.PRINTING
        await self._anotify(job)
        try:
            data = job.payload if isinstance(job.payload, (bytes, bytearray)) else \
                await asyncio.to_thread(self._render, job.payload, self.cfg)
        except Exception as exc:  # the receipt itself cannot be printed: retrying will not help
            await self._finish(job, PrintState.FAILED, f"receipt cannot be rendered: {exc}")
            return
        try:
            await asyncio.to_thread(self._send, self.cfg, bytes(data))
        except PrinterConfigError as exc:
            self.printer_error = str(exc)
            await self._finish(job, PrintState.FAILED, str(exc))
            return
        except Exception as exc:  # off, unplugged, refused, out of paper, write error: keep it queued
            job.attempts += 1
            self.tally.failed_attempts += 1
            job.last_error = str(exc) or type(exc).__name__
            self.printer_error = job.last_error
            if self.max_attempts is not None and job.attempts >= self.max_attempts:
                await self._finish(job, PrintState.FAILED, f"gave up after {job.attempts} attempts: {job.last_error}")
                return
            job.state = PrintState.FAILED_RETRYING
            job.not_before = time.monotonic() + min(self.backoff_max, self.backoff_initial * 2 ** (job.attempts - 1))
            log.warning("receipt %s not printed (attempt %d): %s", job.invoice_id, job.attempts, job.last_error)
            await self._anotify(job)
            await self._blocked_behind(job)
            return
        self.printer_error = None
        await self._finish(job, PrintState.PRINTED, None)

    async def _blocked_behind(self, head: _Job) -> None:
        """Receipts waiting behind a failing one are held up by the same printer trouble: say so, so the
        cashier sees every unprinted receipt as `failed_retrying`, not only the first."""
        for job in list(self._queue)[1:]:
            if job.state is PrintState.PENDING:
                job.state = PrintState.FAILED_RETRYING
                job.last_error = f"waiting for the printer: {head.last_error}"
                await self._anotify(job)

    async def _finish(self, job: _Job, state: PrintState, error: str | None) -> None:
        if self._queue and self._queue[0] is job:
            self._queue.popleft()
        job.state, job.last_error = state, error
        self.tally.printed += state is PrintState.PRINTED
        if state is PrintState.FAILED:
            log.error("receipt %s not printed: %s", job.invoice_id, error)
        self._finished[job.invoice_id] = job.status()
        self._finished.move_to_end(job.invoice_id)
        while len(self._finished) > self._keep_finished:
            self._finished.popitem(last=False)
        await self._anotify(job)

    def _notify(self, job: _Job) -> None:
        """Record a state change from sync code (submit); it is delivered in order by the next flush."""
        if self._on_state is None:
            return
        self._notices.append((job.invoice_id, job.state, job.last_error))
        try:
            asyncio.get_running_loop().create_task(self._flush())
        except RuntimeError:  # no loop in this thread: the worker's next flush delivers it
            pass

    async def _anotify(self, job: _Job) -> None:
        if self._on_state is None:
            return
        self._notices.append((job.invoice_id, job.state, job.last_error))
        await self._flush()

    async def _flush(self) -> None:
        """Deliver state changes one at a time in the order they happened (the store must end on the last)."""
        async with self._notify_lock:
            while self._notices:
                invoice_id, state, error = self._notices.popleft()
                try:
                    result = self._on_state(invoice_id, state, error)  # type: ignore[misc]
                    if inspect.isawaitable(result):
                        await result
                except Exception:  # a broken status sink must not break printing or the till
                    log.exception("print state callback failed for %s (%s)", invoice_id, state.value)


__all__ = ["JobStatus", "PrintQueue", "PrintState", "StateCallback"]
