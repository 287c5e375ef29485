"""Reusable sshd fixture: a real OpenSSH server on 127.0.0.1 with throwaway keys, one per test module.

Import the fixture into a test module (`from sshd_fixtures import sshd_server`) or a conftest.
`running_sshd(workdir)` writes a private config (platform-notes §5: `Subsystem sftp internal-sftp`, or
scp/sftp fail with "Connection closed"), a fresh ed25519 host key and a user key authorised for
root, starts `/usr/sbin/sshd -f CONF -E LOG` on a free loopback port, waits until it answers an
SSH handshake, and stops it (by its pid file) afterwards. Nothing outside `workdir` is touched
except `/run/sshd`, the privilege-separation directory sshd insists on.
"""
from __future__ import annotations

import getpass
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

SSHD = "/usr/sbin/sshd"
SSH_KEYGEN = shutil.which("ssh-keygen")


@dataclass(frozen=True)
class SshServer:
    """How a client reaches the running sshd."""

    host: str
    port: int
    user: str
    key_file: Path       # private key of the authorised user
    log_file: Path

    def ssh_args(self) -> list[str]:
        """`ssh` options that log in without prompts and without touching ~/.ssh/known_hosts."""
        return ["-p", str(self.port), "-i", str(self.key_file), "-o", "BatchMode=yes",
                "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                "-o", "LogLevel=ERROR", f"{self.user}@{self.host}"]


def skip_reason() -> str | None:
    """Why sshd cannot run here, or None when it can."""
    if not os.path.exists(SSHD):
        return "OpenSSH server not installed (apt-get install openssh-server)"
    if SSH_KEYGEN is None or shutil.which("ssh") is None:
        return "OpenSSH client tools not installed (apt-get install openssh-client)"
    if os.geteuid() != 0:
        return "sshd with a private config needs root here (privilege separation directory /run/sshd)"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_banner(port: int, proc: subprocess.Popen, log: Path, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None and proc.returncode != 0:
            raise RuntimeError(f"sshd failed to start (exit {proc.returncode}): {log.read_text(errors='replace')}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
                if s.recv(64).startswith(b"SSH-"):
                    return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"sshd did not answer on 127.0.0.1:{port} within {timeout_s}s: "
                       f"{log.read_text(errors='replace') if log.exists() else ''}")


def _keygen(path: Path) -> None:
    subprocess.run([SSH_KEYGEN, "-q", "-t", "ed25519", "-N", "", "-C", "ksef-edge-test", "-f", str(path)],
                   check=True, stdout=subprocess.DEVNULL)


@contextmanager
def running_sshd(workdir: Path | None = None) -> Iterator[SshServer]:
    """Start a throwaway sshd on 127.0.0.1 and yield how to reach it; stopped on exit."""
    reason = skip_reason()
    if reason:
        pytest.skip(reason)
    own = workdir is None
    work = Path(workdir or tempfile.mkdtemp(prefix="sshd-"))
    work.mkdir(parents=True, exist_ok=True)
    host_key, user_key = work / "host_ed25519", work / "user_ed25519"
    _keygen(host_key)
    _keygen(user_key)
    authorized = work / "authorized_keys"
    authorized.write_text(Path(f"{user_key}.pub").read_text())
    authorized.chmod(0o600)
    port = _free_port()
    pid_file, log = work / "sshd.pid", work / "sshd.log"
    conf = work / "sshd_config"
    conf.write_text("\n".join([
        f"Port {port}",
        "ListenAddress 127.0.0.1",
        f"HostKey {host_key}",
        f"AuthorizedKeysFile {authorized}",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "PermitRootLogin prohibit-password",
        "StrictModes no",
        "UsePAM no",
        f"PidFile {pid_file}",
        "Subsystem sftp internal-sftp",
        "MaxStartups 50:30:100",
        "MaxSessions 50",
        "LogLevel INFO",
        "",
    ]))
    Path("/run/sshd").mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen([SSHD, "-f", str(conf), "-E", str(log)])
    try:
        proc.wait(timeout=10)  # sshd daemonises: the parent exits once it listens
        _wait_banner(port, proc, log)
        yield SshServer(host="127.0.0.1", port=port, user=getpass.getuser(), key_file=user_key, log_file=log)
    finally:
        try:
            os.kill(int(pid_file.read_text().strip()), signal.SIGTERM)
        except (OSError, ValueError):
            pass
        if own:
            shutil.rmtree(work, ignore_errors=True)


@pytest.fixture(scope="module")
def sshd_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshServer]:
    """A running sshd on 127.0.0.1 for the whole test module; stopped afterwards."""
    with running_sshd(tmp_path_factory.mktemp("sshd")) as server:
        yield server
