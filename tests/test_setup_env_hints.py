"""scripts/setup-env names the missing Debian package when pip fails to build a C extension.

The logs are real failures captured on a minimal Debian 12 root (tests/data/pip-build-failures/SOURCES.md).
"""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
LOGS = REPO / "tests/data/pip-build-failures"


def hint(log: Path) -> set[str]:
    proc = subprocess.run(["bash", str(REPO / "scripts/lib/pip-hint"), str(log)], capture_output=True, text=True,
                          timeout=30)
    assert proc.returncode == 0, proc.stderr
    return set(proc.stdout.split())


@pytest.mark.parametrize(("log", "missing"), [
    ("systemd-python-without-python3-dev.log", {"python3-dev"}),    # Python.h: No such file or directory
    ("systemd-python-without-gcc.log", {"gcc"}),
    ("systemd-python-without-libsystemd-dev.log", {"libsystemd-dev"}),
    ("tpm2-pytss-without-libtss2-dev.log", {"libtss2-dev"}),
    # pkg-config is what failed; the library it was about to look up is named too (both are needed)
    ("systemd-python-without-pkg-config.log", {"pkg-config", "libsystemd-dev"}),
    ("tpm2-pytss-without-pkg-config.log", {"pkg-config", "libtss2-dev"}),
])
def test_a_failed_build_names_the_missing_debian_package(log: str, missing: set[str]) -> None:
    assert hint(LOGS / log) == missing


def test_a_failure_no_debian_package_fixes_names_nothing() -> None:
    assert hint(LOGS / "no-such-version.log") == set()
