"""Receipt: time from POST (issue) to the last byte written to the printer (a file sink), and size."""
from __future__ import annotations

import time
from pathlib import Path

from harness import body_for

from common import PosClient, pct, summary_ms


def measure_receipt(device, sink: Path, n: int) -> dict:
    client = PosClient(device.files.port, device.token)
    lat, sizes = [], []
    try:
        client.post("rcpt-warm", body_for(0))
        _wait_printed(client, 1)
        for i in range(n):
            t0_wall = time.time_ns()
            status, inv = client.post(f"rcpt-{i}", body_for(i))
            assert status == 201, inv
            _wait_printed(client, inv["id"])
            st = sink.stat()
            lat.append((st.st_mtime_ns - t0_wall) / 1e9)  # the kernel's time of the last write to the sink
            sizes.append(st.st_size)  # python-escpos opens a file sink with "wb": one receipt per write
    finally:
        client.close()
    out = summary_ms(lat)
    out.update({"bytes_p50": int(pct(sizes, 50)), "bytes_max": max(sizes)})
    return out


def _wait_printed(client: PosClient, invoice_id: int, timeout_s: float = 30) -> None:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        _, inv = client.get(f"/v1/invoices/{invoice_id}")
        if inv["print_state"] == "printed":
            return
        time.sleep(0.002)
    raise TimeoutError(f"receipt {invoice_id} not printed")
