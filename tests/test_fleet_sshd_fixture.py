"""The sshd fixture the fleet tests stand on: a real OpenSSH login and an scp (SFTP) copy work."""
from __future__ import annotations

import subprocess
from pathlib import Path

from sshd_fixtures import SshServer


def test_ssh_login_runs_a_command(sshd_server: SshServer):
    out = subprocess.run(["ssh", *sshd_server.ssh_args(), "echo", "hello-from-device"],
                         capture_output=True, text=True, timeout=30, check=True).stdout
    assert out.strip() == "hello-from-device"


def test_scp_copies_a_file_over_sftp(sshd_server: SshServer, tmp_path: Path):
    src, dst = tmp_path / "release.tar.gz", tmp_path / "copied.tar.gz"
    src.write_bytes(b"\x1f\x8b" + bytes(range(256)) * 64)
    args = sshd_server.ssh_args()
    target = args.pop()  # user@host
    scp_args = [a if a != "-p" else "-P" for a in args]
    subprocess.run(["scp", *scp_args, str(src), f"{target}:{dst}"], check=True, timeout=30,
                   capture_output=True)
    assert dst.read_bytes() == src.read_bytes()
