"""A network receipt counts as sent only when the printer ended the job: real TCP printers on 127.0.0.1."""
from __future__ import annotations

import socket
import struct
import threading
import time

import pytest

from ksef_edge.printing import PrinterConfig, PrinterError
from ksef_edge.printing.escpos_output import send

pytestmark = pytest.mark.timeout(30)
RECEIPT = b"\x1b@" + b"FV/KASA1/2026/02/000001 " * 200  # ~4.8 kB, more than a printer reads before the reset


class Printer:
    """Accepts one connection and does `behaviour(conn)` with it; what it read is in `received`."""

    def __init__(self, behaviour) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(1)
        self.port = self.sock.getsockname()[1]
        self.received = bytearray()
        self._behaviour = behaviour
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        conn, _ = self.sock.accept()
        self._behaviour(self, conn)

    def read(self, conn, limit: int | None = None) -> None:
        while limit is None or len(self.received) < limit:
            chunk = conn.recv(65536 if limit is None else limit - len(self.received))
            if not chunk:
                return
            self.received.extend(chunk)

    def close(self) -> None:
        self._thread.join(10)
        self.sock.close()

    def cfg(self, timeout_s: float = 3) -> PrinterConfig:
        return PrinterConfig(connection="network", host="127.0.0.1", port=self.port, timeout_s=timeout_s)


def resets_after_300_bytes(printer: Printer, conn) -> None:
    printer.read(conn, 300)
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()  # RST: paper out, power button, a printer reboot


def reads_everything_then_closes(printer: Printer, conn) -> None:
    printer.read(conn)
    conn.close()


def reads_everything_and_keeps_the_connection(printer: Printer, conn) -> None:
    conn.settimeout(5)
    try:
        printer.read(conn)
    except OSError:
        pass
    time.sleep(1.5)
    conn.close()


def test_a_printer_that_resets_mid_receipt_fails_the_send():
    printer = Printer(resets_after_300_bytes)
    try:
        with pytest.raises(PrinterError, match=r"network printer 127\.0\.0\.1:\d+"):
            send(printer.cfg(), RECEIPT)
    finally:
        printer.close()
    assert len(printer.received) == 300


def test_a_printer_that_reads_the_receipt_and_closes_is_a_sent_receipt():
    printer = Printer(reads_everything_then_closes)
    try:
        send(printer.cfg(), RECEIPT)
    finally:
        printer.close()
    assert bytes(printer.received) == RECEIPT


def test_a_printer_that_keeps_the_connection_open_is_accepted_after_the_wait_once_it_has_every_byte():
    printer = Printer(reads_everything_and_keeps_the_connection)
    started = time.monotonic()
    try:
        send(printer.cfg(timeout_s=0.5), RECEIPT)
        took = time.monotonic() - started
    finally:
        printer.close()
    assert 0.4 < took < 1.4  # waited for the end of the job, then took the ACKs
    assert bytes(printer.received) == RECEIPT
