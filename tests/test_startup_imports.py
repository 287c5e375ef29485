"""Start-up carries only what every device uses: python-escpos' printer database (~11 MB, and a YAML parse
without its cache) and signxml (~16 MB) load when a printer is configured or the first UPO arrives.
On a Pi that is memory and start-up time (docs/benchmarks.md, RSS and READY)."""
from __future__ import annotations

import subprocess
import sys

LAZY = ("escpos", "signxml", "yaml")


def test_the_daemon_and_its_commands_import_without_escpos_or_signxml():
    code = ("import sys; import ksef_edge.cli, ksef_edge.service, ksef_edge.api.app, ksef_edge.ksef.uplink; "
            f"print(','.join(m for m in {LAZY!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == "", f"loaded at import: {out.stdout.strip()}"
