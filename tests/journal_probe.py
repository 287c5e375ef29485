"""Run a real `ksef-edge run` under a real systemd-journald, in a private mount namespace, and dump the
journal as JSON. Started by tests/test_journal_fields.py as
`unshare --mount --propagation private python journal_probe.py OUT_DIR SIM_API_URL SIM_TOKEN`.

Why a mount namespace: journald and the daemon's JournalHandler meet at the fixed path
/run/systemd/journal/socket; tmpfs mounts over /run/systemd, /run/log and /var/log/journal that only
this process tree sees give them a journal of their own, so nothing reaches the machine's journal.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from daemon_fixtures import VALID_BODY, daemon_process

JOURNALD = "/lib/systemd/systemd-journald"


def call(url: str, token: str, body: dict | None = None, key: str | None = None) -> tuple[int, dict]:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    if key:
        headers["Idempotency-Key"] = key
    req = urllib.request.Request(url, method="POST" if body else "GET", headers=headers,
                                 data=json.dumps(body).encode() if body else None)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def main(out: Path, sim_url: str, sim_token: str) -> int:
    for d in ("/run/systemd", "/run/log", "/var/log/journal"):
        os.makedirs(d, exist_ok=True)
        subprocess.run(["mount", "-t", "tmpfs", "tmpfs", d], check=True)
    journald = subprocess.Popen([JOURNALD], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            if os.path.exists("/run/systemd/journal/socket"):
                break
            time.sleep(0.1)
        ksef = f'environment = "simulator"\napi_base_url = "{sim_url}"\nuplink_idle_s = 0.5'
        result: dict = {}
        with daemon_process(out / "dev", ksef_toml=ksef, uplink="auto", ksef_token=sim_token,
                            env={"INVOCATION_ID": "0123456789abcdef0123456789abcdef"}) as d:
            status, inv = call(d.base_url + "/v1/invoices", d.token, VALID_BODY, key="journal-1")
            result["issued"] = inv
            bad = {**VALID_BODY, "buyer": {**VALID_BODY.get("buyer", {}), "nip": "1234567890"}}
            result["refused"] = call(d.base_url + "/v1/invoices", d.token, bad, key="journal-2")
            end = time.monotonic() + 60
            while time.monotonic() < end:
                if call(d.base_url + f"/v1/invoices/{inv['id']}", d.token)[1]["state"] == "confirmed":
                    break
                time.sleep(0.3)
            result["daemon_stderr"] = d.log_path.read_text()
        time.sleep(0.5)  # journald reads its socket asynchronously
        # Volatile (/run/log/journal) on a booted machine; a journald that finds /var/log/journal writable
        # from the start (a chroot, where no unit orders the flush) writes there instead: read where it wrote.
        written = [d for d in ("/run/log/journal", "/var/log/journal") if any(Path(d).rglob("*.journal"))]
        dump = subprocess.run(["journalctl", "-D", written[0] if written else "/run/log/journal", "--no-pager", "-o", "json",
                               "SYSLOG_IDENTIFIER=ksef-edge"], capture_output=True, text=True, check=False)
        result["journal"] = [json.loads(line) for line in dump.stdout.splitlines() if line.strip()]
        result["journalctl_stderr"] = dump.stderr
        (out / "journal.json").write_text(json.dumps(result))
        return 0
    finally:
        journald.send_signal(signal.SIGTERM)
        journald.wait(10)


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), sys.argv[2], sys.argv[3]))
