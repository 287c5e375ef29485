"""Reusable swtpm fixture: a real TPM 2.0 simulator on loopback, one fresh state per test.

Import the fixture into a test module (`from tpm_fixtures import swtpm_tcti`) or a conftest.
Each use starts `swtpm socket` with a fresh `--tpmstate` dir on a free 127.0.0.1 port pair
(the swtpm TCTI talks commands on `port` and control on `port + 1`), yields the TCTI string
(`swtpm:host=127.0.0.1,port=N`), and kills the process afterwards. A fresh simulator per test
side-steps swtpm's 3 transient slots (platform-notes, trap 2).
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

SWTPM = shutil.which("swtpm")


def _free_port_pair() -> int:
    """A port N such that N and N+1 are both free on 127.0.0.1 right now."""
    for _ in range(50):
        with socket.socket() as a:
            a.bind(("127.0.0.1", 0))
            port = a.getsockname()[1]
            if port >= 65535:
                continue
            with socket.socket() as b:
                try:
                    b.bind(("127.0.0.1", port + 1))
                except OSError:
                    continue
                return port
    raise RuntimeError("no free port pair on 127.0.0.1")


def _wait_listening(port: int, proc: subprocess.Popen, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"swtpm exited early with code {proc.returncode}: {proc.stderr.read()!r}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError(f"swtpm did not listen on 127.0.0.1:{port} within {timeout}s")


@contextmanager
def running_swtpm(state_dir: str | Path | None = None) -> Iterator[str]:
    """Start swtpm (fresh state unless `state_dir` is given, to test persistence) and yield its TCTI."""
    if SWTPM is None:
        pytest.skip("swtpm is not installed (apt-get install swtpm)")
    own_dir = None
    if state_dir is None:
        own_dir = tempfile.mkdtemp(prefix="swtpm-")
        state_dir = own_dir
    port = _free_port_pair()
    proc = subprocess.Popen(
        [SWTPM, "socket", "--tpm2",
         "--tpmstate", f"dir={state_dir}",
         "--server", f"type=tcp,bindaddr=127.0.0.1,port={port}",
         "--ctrl", f"type=tcp,bindaddr=127.0.0.1,port={port + 1}",
         "--flags", "not-need-init,startup-clear",
         # qemu-user (scripts/test-arm64) cannot load swtpm's seccomp filter: swtpm exits with errno 125
         *(["--seccomp", "action=none"] if os.environ.get("KSEF_EDGE_SWTPM_NO_SECCOMP") else [])],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    try:
        _wait_listening(port, proc)
        yield f"swtpm:host=127.0.0.1,port={port}"
    finally:
        proc.kill()
        proc.wait(timeout=10)
        if proc.stderr:
            proc.stderr.close()
        if own_dir:
            shutil.rmtree(own_dir, ignore_errors=True)


@pytest.fixture
def swtpm_tcti() -> Iterator[str]:
    """TCTI string of a fresh, running swtpm; killed after the test."""
    with running_swtpm() as tcti:
        yield tcti


@pytest.fixture
def free_tcp_port() -> int:
    """A loopback port with nothing listening (for 'TPM absent' tests)."""
    return _free_port_pair()
