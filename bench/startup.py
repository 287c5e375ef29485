"""Start-up time to READY=1 on a fake NOTIFY_SOCKET (what systemd waits for with Type=notify)."""
from __future__ import annotations

import socket
import statistics

from common import now


def time_to_ready(device, runs: int, env: dict[str, str] | None = None) -> dict:
    times = []
    for r in range(runs):
        sock_path = device.files.dir / f"notify-{r}.sock"
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(str(sock_path))
        sock.settimeout(30)
        try:
            device.env["NOTIFY_SOCKET"] = str(sock_path)
            device.env.update(env or {})
            t0 = now()
            device.start(wait=False)
            while True:
                msg = sock.recv(4096).decode()
                if "READY=1" in msg:
                    times.append(now() - t0)
                    break
            device.stop()
        finally:
            sock.close()
            sock_path.unlink(missing_ok=True)
            device.env.pop("NOTIFY_SOCKET", None)
            for k in env or {}:
                device.env.pop(k, None)
    return {"runs": runs, "median_s": round(statistics.median(times), 3), "max_s": round(max(times), 3),
            "all_s": [round(t, 3) for t in times]}
