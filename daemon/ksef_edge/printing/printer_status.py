"""The printer's own word on its state: ESC/POS real-time status (`DLE EOT n`) over a two-way connection.

A USB or network printer takes bytes into its buffer with no paper in it, so a successful write does
not mean a printed receipt. Before each receipt, and every few seconds while idle, the printer is asked
`DLE EOT 1` (online), `DLE EOT 2` (offline cause: cover open, paper end stop, error) and `DLE EOT 4`
(roll paper sensor: near end, end). A fault keeps the receipt queued (`PrinterFaultError`); the queue
is woken as soon as the fault clears. A printer that does not answer (a file sink, a one-way cable,
a model without real-time status) is "unknown", never a fault.
"""
from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import PrinterConfig, PrinterError, open_printer

log = logging.getLogger(__name__)

DLE_EOT = b"\x10\x04"
ANSWER_TIMEOUT_S = 1.0  # a printer answers in milliseconds; one that does not is treated as one-way
TWO_WAY = ("usb", "network", "serial")


class PrinterFaultError(PrinterError):
    """The printer said it cannot print now (paper out, cover open, offline); `fault` is the stable code."""

    def __init__(self, fault: str, message: str) -> None:
        super().__init__(message)
        self.fault = fault


@dataclass(frozen=True)
class PrinterStatus:
    """Decoded real-time status bytes (Epson ESC/POS; fixed bits 1 and 4 set, bits 0 and 7 clear)."""

    offline: bool
    cover_open: bool
    paper_out: bool
    paper_near_end: bool
    error: bool

    @property
    def fault(self) -> str | None:
        """The condition that stops printing, most specific first (None: the printer can print)."""
        if self.paper_out:
            return "paper_out"
        if self.cover_open:
            return "cover_open"
        if self.error:
            return "printer_error"
        if self.offline:
            return "offline"
        return None

    def to_dict(self) -> dict[str, Any]:
        return {"paper": "out" if self.paper_out else "near_end" if self.paper_near_end else "ok",
                "cover_open": self.cover_open, "offline": self.offline, "error": self.error, "fault": self.fault}


def _valid(byte: int) -> bool:
    return byte & 0x93 == 0x12  # bit 1 and bit 4 set, bits 0 and 7 clear


def parse_status(printer: int, offline_cause: int, paper: int) -> PrinterStatus:
    """`DLE EOT 1`, `2`, `4` answers -> status. Raises ValueError for bytes that are not a status answer."""
    for b in (printer, offline_cause, paper):
        if not _valid(b):
            raise ValueError(f"0x{b:02x} is not an ESC/POS real-time status byte")
    return PrinterStatus(
        offline=bool(printer & 0x08),
        cover_open=bool(offline_cause & 0x04),
        paper_out=bool(paper & 0x60) or bool(offline_cause & 0x20),
        paper_near_end=bool(paper & 0x0C),
        error=bool(offline_cause & 0x40),
    )


def _ask(device: Any, cfg: PrinterConfig, n: int) -> int | None:
    """Send `DLE EOT n` and read one answer byte (None: no answer in time)."""
    try:
        if isinstance(device, socket.socket):
            device.settimeout(min(cfg.timeout_s, ANSWER_TIMEOUT_S))
            device.sendall(DLE_EOT + bytes([n]))
            data = device.recv(1)
        else:
            device._raw(DLE_EOT + bytes([n]))
            data = device._read()
    except (TimeoutError, socket.timeout):
        return None
    return data[-1] if data else None


def query_status(cfg: PrinterConfig) -> PrinterStatus | None:
    """Ask the printer (None: a one-way connection or no answer). Raises `PrinterError` if it cannot be reached."""
    if cfg.connection not in TWO_WAY or not cfg.realtime_status:
        return None
    printer = open_printer(cfg)
    try:
        printer.open()
        device = printer.device if cfg.connection == "network" else printer
        answers: list[int | None] = []
        for n in (1, 2, 4):
            answers.append(_ask(device, cfg, n))
            if answers[-1] is None:  # a one-way printer: do not wait for the other two
                break
    except Exception as exc:  # DeviceNotFoundError, OSError, USBError, SerialException ...
        raise PrinterError(f"printer not reachable for a status check: {type(exc).__name__}: {str(exc).strip()}") from exc
    finally:
        try:
            printer.close()
        except Exception:
            printer._device = False
    if len(answers) < 3 or any(a is None for a in answers):
        return None
    try:
        return parse_status(*answers)  # type: ignore[arg-type]
    except ValueError as exc:
        log.warning("printer status not understood: %s", exc)
        return None


_FAULT_TEXT = {"paper_out": "the printer is out of paper", "cover_open": "the printer cover is open",
               "printer_error": "the printer reports an error (cutter or mechanism)", "offline": "the printer is offline"}


class StatusCheckedSender:
    """`PrintQueue`'s `send`: asks the printer's status first and refuses to print into a faulty printer.

    One lock serialises the status poll and the print job on the same device. `on_status` gets every
    answer (or None for "no answer"), so the page, /v1/status and /metrics follow the printer.
    """

    def __init__(self, send: Callable[[PrinterConfig, bytes], None],
                 on_status: Callable[[PrinterStatus | None], None] | None = None) -> None:
        self._send = send
        self._on_status = on_status
        self._lock = threading.Lock()
        self.last: PrinterStatus | None = None

    def poll(self, cfg: PrinterConfig) -> PrinterStatus | None:
        with self._lock:
            return self._poll(cfg)

    def _poll(self, cfg: PrinterConfig) -> PrinterStatus | None:
        status = query_status(cfg)
        self.last = status
        if self._on_status is not None:
            self._on_status(status)
        return status

    def __call__(self, cfg: PrinterConfig, data: bytes) -> None:
        with self._lock:
            status = self._poll(cfg)
            if status is not None and status.fault is not None:
                raise PrinterFaultError(status.fault, _FAULT_TEXT[status.fault])
            self._send(cfg, data)


__all__ = ["PrinterFaultError", "PrinterStatus", "StatusCheckedSender", "parse_status", "query_status"]
