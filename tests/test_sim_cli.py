"""`ksef-sim` refuses bad command lines with a message that names the fix."""
from __future__ import annotations

import subprocess

from sim_fixtures import KSEF_SIM


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(KSEF_SIM), *args], capture_output=True, text=True, timeout=30)


def test_bad_fault_rule_names_the_expected_format():
    result = run("--fault", "sessions/online")
    assert result.returncode == 2
    assert "PATH_GLOB=KIND[:PROBABILITY[:COUNT]]" in result.stderr


def test_unknown_fault_kind_lists_the_kinds():
    result = run("--fault", "sessions/online=boom")
    assert result.returncode == 2 and "timeout, reset, slow, drop" in result.stderr


def test_bad_token_never_echoes_the_secret():
    result = run("--token", "123=super-secret-token")
    assert result.returncode == 2 and "NIP=TOKEN" in result.stderr
    assert "super-secret-token" not in result.stderr


def test_missing_rate_limit_file_is_named():
    result = run("--rate-limits", "/nonexistent/limits.json")
    assert result.returncode == 2 and "/nonexistent/limits.json" in result.stderr
