"""python-escpos' printer database is cached in a persistent directory (ESCPOS_CAPABILITIES_PICKLE_DIR),
so a start does not re-parse its 1 MB YAML file (docs/benchmarks.md); each case is a fresh process."""
from __future__ import annotations

import os
import platform
import re
import subprocess
import sys

from daemon_fixtures import REPO

LOAD_PRINTER = ("from ksef_edge.printing import PrinterConfig\n"
                "cfg = PrinterConfig(connection='file', file_path='/dev/null', profile='TM-T20II')\n"
                "print(cfg.escpos_codepage_slot)\n")
PICKLE = f"{platform.python_version()}.capabilities.pickle"


def start(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items()
            if k not in ("ESCPOS_CAPABILITIES_PICKLE_DIR", "CACHE_DIRECTORY")}
    return subprocess.run([sys.executable, "-c", LOAD_PRINTER], capture_output=True, text=True, timeout=60,
                          env={**base, "PYTHONPATH": str(REPO / "daemon"), **env})


def test_the_configured_directory_is_created_and_the_next_start_reads_the_pickle(tmp_path):
    cache = tmp_path / "var-cache" / "ksef-edge"  # not there yet: python-escpos alone would fail to import
    first = start({"ESCPOS_CAPABILITIES_PICKLE_DIR": str(cache)})
    assert first.returncode == 0, first.stderr[-2000:]
    pickle = cache / PICKLE
    assert pickle.is_file() and oct(cache.stat().st_mode & 0o777) == "0o700"
    written = pickle.stat().st_mtime_ns
    second = start({"ESCPOS_CAPABILITIES_PICKLE_DIR": str(cache)})
    assert second.returncode == 0 and second.stdout == first.stdout
    assert pickle.stat().st_mtime_ns == written  # loaded, not parsed and written again


def test_unset_it_defaults_to_the_cache_directory_systemd_gave_the_service(tmp_path):
    cache = tmp_path / "cache"
    result = start({"CACHE_DIRECTORY": str(cache)})
    assert result.returncode == 0, result.stderr[-2000:]
    assert (cache / PICKLE).is_file()


def test_an_unusable_directory_only_costs_start_time(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    result = start({"ESCPOS_CAPABILITIES_PICKLE_DIR": str(blocker / "cache")})
    assert result.returncode == 0, result.stderr[-2000:]  # printing still works
    assert "cannot be used" in result.stderr and str(blocker / "cache") in result.stderr


def test_the_unit_points_it_at_the_service_cache_directory():
    unit = (REPO / "systemd" / "ksef-edge.service").read_text()
    assert re.search(r"^CacheDirectory=ksef-edge$", unit, re.M)
    assert re.search(r"^Environment=ESCPOS_CAPABILITIES_PICKLE_DIR=%C/ksef-edge$", unit, re.M)
