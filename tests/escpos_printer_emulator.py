"""A small emulated ESC/POS network printer on 127.0.0.1 (port 9100 style, raw TCP) for tests.

It answers real-time status requests (`DLE EOT 1/2/4`) with the bytes an Epson TM printer sends
(ESC/POS Application Programming Guide, "DLE EOT n"), keeps every other byte of a connection as one
job, and can run out of paper / near end / have its cover opened. Like a real printer it takes the
bytes even with no paper (they sit in its buffer): only the receipts in `printed` reached paper.
"""
from __future__ import annotations

import socket
import threading
from dataclasses import dataclass, field

NORMAL = 0x12  # fixed bits 1 and 4 set


@dataclass
class EmulatedPrinter:
    paper_out: bool = False
    paper_near_end: bool = False
    cover_open: bool = False
    printed: list[bytes] = field(default_factory=list)  # jobs that reached paper
    lost: list[bytes] = field(default_factory=list)  # jobs received while it could not print
    status_queries: int = 0

    def __post_init__(self) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(8)
        self.port = self._sock.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def answer(self, n: int) -> int:
        if n == 1:
            return NORMAL | (0x08 if self.paper_out or self.cover_open else 0)
        if n == 2:
            return NORMAL | (0x04 if self.cover_open else 0) | (0x20 if self.paper_out else 0)
        if n == 4:
            return NORMAL | (0x60 if self.paper_out else 0) | (0x0C if self.paper_near_end else 0)
        return NORMAL

    def _serve(self) -> None:
        self._sock.settimeout(0.2)
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except (TimeoutError, OSError):
                continue
            threading.Thread(target=self._connection, args=(conn,), daemon=True).start()

    def _connection(self, conn: socket.socket) -> None:
        job = bytearray()
        with conn:
            conn.settimeout(10)
            try:
                while True:
                    data = conn.recv(65536)
                    if not data:
                        break
                    job += data
                    # status requests at the start of a connection are answered, not printed
                    while len(job) >= 3 and job[:2] == b"\x10\x04":
                        self.status_queries += 1
                        conn.sendall(bytes([self.answer(job[2])]))
                        del job[:3]
            except OSError:
                return
        if job:
            (self.lost if self.paper_out or self.cover_open else self.printed).append(bytes(job))

    def close(self) -> None:
        self._stop.set()
        self._sock.close()
        self._thread.join(2)
