"""Printer trouble never reaches the till: jobs stay queued with a visible state and print when it is fixed.

Real failures only: a refused TCP connection on 127.0.0.1, a device path that does not exist, /dev/full
(out of space), a pipe whose reader goes away mid-receipt, and a FIFO nobody reads (a hung printer).
"""
from __future__ import annotations

import asyncio
import fcntl
import os
import threading
import time

import pytest

from daemon_fixtures import free_port
from escpos_reader import parse
from ksef_edge.printing import PrinterConfig
from ksef_edge.printing.escpos_output import render
from ksef_edge.printing.print_queue import PrintQueue, PrintState
from ksef_edge.printing.receipt_layout import TextLine, layout, receipt_from_invoice
from printing_fixtures import KOD1_OFFICIAL, KOD2_OFFICIAL_RSA, till_invoice

pytestmark = pytest.mark.timeout(30)


def blocks(cfg: PrinterConfig, **kw):
    data = receipt_from_invoice(till_invoice(), None, kod1_url=KOD1_OFFICIAL, kod2_url=KOD2_OFFICIAL_RSA, **kw)
    return layout(data, cfg.line_columns)


class Recorder:
    """The store's side of `on_state`: remembers every transition, as print_state would be persisted."""

    def __init__(self) -> None:
        self.events: list[tuple[str, PrintState, str | None, float]] = []

    async def __call__(self, invoice_id: str, state: PrintState, error: str | None) -> None:
        self.events.append((invoice_id, state, error, time.monotonic()))

    def states(self, invoice_id: str) -> list[PrintState]:
        return [s for i, s, _, _ in self.events if i == invoice_id]


async def wait_state(queue: PrintQueue, invoice_id: str, state: PrintState, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = queue.status(invoice_id)
        if status is not None and status.state is state:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{invoice_id} never reached {state}; now {queue.status(invoice_id)}")


async def test_connection_refused_keeps_the_job_then_prints_when_the_printer_is_back():
    port = free_port()
    cfg = PrinterConfig(connection="network", host="127.0.0.1", port=port, timeout_s=2)
    rec = Recorder()
    queue = PrintQueue(cfg, on_state=rec, backoff_initial=0.05, backoff_max=0.2)
    queue.start()
    try:
        started = time.perf_counter()
        status = queue.submit("inv-1", blocks(cfg))
        assert time.perf_counter() - started < 0.05  # the till does not wait for the printer
        assert status.state is PrintState.PENDING
        await wait_state(queue, "inv-1", PrintState.FAILED_RETRYING)
        status = queue.status("inv-1")
        assert f"127.0.0.1:{port}" in status.last_error and "refused" in status.last_error.lower()
        assert queue.depth == 1 and queue.printer_error

        received = bytearray()
        done = asyncio.Event()

        async def printer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            received.extend(await reader.read())  # until python-escpos closes the socket
            writer.close()
            done.set()

        server = await asyncio.start_server(printer, "127.0.0.1", port)
        async with server:
            await wait_state(queue, "inv-1", PrintState.PRINTED)
            await asyncio.wait_for(done.wait(), 5)
        assert parse(bytes(received)).qr_payloads == [KOD1_OFFICIAL, KOD2_OFFICIAL_RSA]
        assert rec.states("inv-1")[:3] == [PrintState.PENDING, PrintState.PRINTING, PrintState.FAILED_RETRYING]
        assert rec.states("inv-1")[-2:] == [PrintState.PRINTING, PrintState.PRINTED]
        assert queue.depth == 0 and queue.printer_error is None
    finally:
        await queue.stop()


async def test_missing_device_path_then_plugged_in(tmp_path):
    device = tmp_path / "usb" / "lp0"  # the directory appears when the printer is plugged in
    cfg = PrinterConfig(connection="file", file_path=str(device), paper="58mm")
    queue = PrintQueue(cfg, backoff_initial=0.05, backoff_max=0.1)
    queue.start()
    try:
        queue.submit(7, blocks(cfg))
        await wait_state(queue, 7, PrintState.FAILED_RETRYING)
        assert "No such file or directory" in queue.status(7).last_error
        assert str(device) in queue.status(7).last_error
        device.parent.mkdir()
        await wait_state(queue, 7, PrintState.PRINTED)
        assert parse(device.read_bytes()).qr_payloads == [KOD1_OFFICIAL, KOD2_OFFICIAL_RSA]
    finally:
        await queue.stop()


async def test_device_full_retries_with_bounded_exponential_backoff():
    cfg = PrinterConfig(connection="file", file_path="/dev/full", paper="58mm")
    rec = Recorder()
    queue = PrintQueue(cfg, on_state=rec, backoff_initial=0.04, backoff_max=0.16)
    queue.start()
    try:
        queue.submit("inv-full", blocks(cfg))
        deadline = time.monotonic() + 10
        while queue.status("inv-full").attempts < 6 and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        status = queue.status("inv-full")
        assert status.state in (PrintState.FAILED_RETRYING, PrintState.PRINTING)
        assert "No space left on device" in (status.last_error or "")
        assert queue.depth == 1  # still queued, nothing lost
        fails = [t for _, s, _, t in rec.events if s is PrintState.FAILED_RETRYING]
        gaps = [b - a for a, b in zip(fails, fails[1:])]
        assert gaps[0] >= 0.04 and gaps[1] >= 0.08 and gaps[2] >= 0.16  # doubling ...
        assert max(gaps) < 0.16 + 1.0  # ... capped at backoff_max (plus scheduling slack)
    finally:
        await queue.stop()


async def test_write_error_mid_receipt_keeps_the_job_queued():
    read_fd, write_fd = os.pipe()
    fcntl.fcntl(write_fd, 1031, 4096)  # F_SETPIPE_SZ: a small buffer so the receipt cannot fit in it
    got = bytearray()

    def printer_dies_after_1000_bytes() -> None:
        while len(got) < 1000:
            got.extend(os.read(read_fd, 1000 - len(got)))
        os.close(read_fd)  # paper jam / cable pulled while the receipt is being sent

    reader = threading.Thread(target=printer_dies_after_1000_bytes)
    reader.start()
    cfg = PrinterConfig(connection="file", file_path=f"/proc/self/fd/{write_fd}", paper="58mm", native_qr=False)
    queue = PrintQueue(cfg, backoff_initial=10, backoff_max=10)
    queue.start()
    try:
        queue.submit("inv-pipe", blocks(cfg))
        await wait_state(queue, "inv-pipe", PrintState.FAILED_RETRYING)
        assert len(got) == 1000  # the printer got part of the receipt, then the write failed
        assert "Broken pipe" in queue.status("inv-pipe").last_error
        assert queue.depth == 1
    finally:
        await queue.stop()
        reader.join(5)
        os.close(write_fd)


async def test_hung_printer_never_blocks_submit_and_order_is_kept(tmp_path):
    fifo = tmp_path / "lp0"
    os.mkfifo(fifo)  # opening it for writing blocks until a reader appears: a printer that does not answer
    cfg = PrinterConfig(connection="file", file_path=str(fifo), paper="80mm", profile="TM-T20II")
    queue = PrintQueue(cfg, backoff_initial=0.05)
    queue.start()
    fd = None
    try:
        queue.submit("a", blocks(cfg))
        await wait_state(queue, "a", PrintState.PRINTING)
        started = time.perf_counter()
        for i in range(20):
            queue.submit(f"b{i}", render([TextLine(f"paragon {i}")], cfg))
        assert time.perf_counter() - started < 0.05
        assert [s.state for s in queue.queued()][:2] == [PrintState.PRINTING, PrintState.PENDING]
        fd = os.open(fifo, os.O_RDONLY)  # the printer wakes up
        data = bytearray()
        while b"paragon 19" not in data:
            chunk = await asyncio.to_thread(os.read, fd, 65536)
            if not chunk:
                # python-escpos closes after each receipt; reopen to wait for the next writer
                await asyncio.sleep(0.01)
                continue
            data.extend(chunk)
        assert await queue.wait_idle(5)
        texts = parse(bytes(data)).text
        assert texts.index("DO ZAPŁATY") < texts.index("paragon 0") < texts.index("paragon 19")
    finally:
        if fd is None:  # unblock the worker thread stuck in open() so the test process can exit
            os.close(os.open(fifo, os.O_RDONLY | os.O_NONBLOCK))
        else:
            os.close(fd)
        await queue.stop()


async def test_unprintable_receipt_fails_for_good_and_the_next_one_prints(tmp_path):
    cfg = PrinterConfig(connection="file", file_path=str(tmp_path / "lp0"))
    rec = Recorder()
    queue = PrintQueue(cfg, on_state=rec, backoff_initial=0.05)
    queue.start()
    try:
        queue.submit("bad", [TextLine("Жар-птица")])
        queue.submit("good", blocks(cfg))
        await wait_state(queue, "good", PrintState.PRINTED)
        status = queue.status("bad")
        assert status.state is PrintState.FAILED and "U+0416" in status.last_error
        assert parse((tmp_path / "lp0").read_bytes()).qr_payloads == [KOD1_OFFICIAL, KOD2_OFFICIAL_RSA]
    finally:
        await queue.stop()


async def test_reprint_is_a_duplikat_and_a_copy_never_replaces_an_unprinted_original(tmp_path):
    device = tmp_path / "gone" / "lp0"
    cfg = PrinterConfig(connection="file", file_path=str(device), paper="58mm")
    queue = PrintQueue(cfg, backoff_initial=0.05, backoff_max=0.1)
    queue.start()
    try:
        queue.submit("inv", blocks(cfg))
        await wait_state(queue, "inv", PrintState.FAILED_RETRYING)
        queue.submit("inv", blocks(cfg, copy=True), copy=True)  # cashier presses "reprint" meanwhile
        assert queue.depth == 1
        device.parent.mkdir()
        await wait_state(queue, "inv", PrintState.PRINTED)
        assert "DUPLIKAT" not in parse(device.read_bytes()).text  # the buyer gets the original
        queue.submit("inv", blocks(cfg, copy=True), copy=True)
        await wait_state(queue, "inv", PrintState.PRINTED)
        assert queue.status("inv").copy
        assert parse(device.read_bytes()).text.count("DUPLIKAT") == 2
    finally:
        await queue.stop()


async def test_a_failing_state_callback_does_not_stop_printing(tmp_path):
    def broken_store(invoice_id, state, error):
        raise RuntimeError("database is locked")

    cfg = PrinterConfig(connection="file", file_path=str(tmp_path / "lp0"))
    queue = PrintQueue(cfg, on_state=broken_store)
    queue.start()
    try:
        queue.submit("x", blocks(cfg))
        await wait_state(queue, "x", PrintState.PRINTED)
    finally:
        await queue.stop()
