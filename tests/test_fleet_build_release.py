"""scripts/fleet/build-release: a self-describing, checksummed tarball that installs with no index."""
from __future__ import annotations

import hashlib
import json
import platform
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BUILD = REPO / "scripts/fleet/build-release"


def build(out: Path, *args: str) -> Path:
    proc = subprocess.run([sys.executable, str(BUILD), "--out", str(out), *args], capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr
    return Path(proc.stdout.strip().splitlines()[-1])


def unpack(tarball: Path, dest: Path) -> Path:
    """Extract safely on every supported Python: Debian 12's 3.11.2 has no extractall(filter=...)."""
    with tarfile.open(tarball) as tar:
        if hasattr(tarfile, "data_filter"):  # 3.11.4+, 3.12+
            tar.extractall(dest, filter="data")
        else:
            root = dest.resolve()
            for member in tar.getmembers():
                target = (dest / member.name).resolve()
                assert member.isfile() or member.isdir(), f"unexpected member type: {member.name}"
                assert target == root or root in target.parents, f"member escapes the destination: {member.name}"
            tar.extractall(dest)  # every member was checked above
    (top,) = dest.iterdir()
    return top


def test_release_tarball_is_versioned_checksummed_and_carries_the_unit(tmp_path: Path):
    tarball = build(tmp_path / "dist", "--version", "3.2.1rc1", "--no-dependency-wheels")
    assert tarball.name == "ksef-edge-3.2.1rc1.tar.gz"
    top = unpack(tarball, tmp_path / "x")
    manifest = json.loads((top / "release.json").read_text())
    assert manifest["version"] == "3.2.1rc1" and manifest["dependency_wheels"] is False
    for line in (top / "SHA256SUMS").read_text().splitlines():
        digest, name = line.split("  ", 1)
        assert hashlib.sha256((top / name).read_bytes()).hexdigest() == digest, name
    with zipfile.ZipFile(top / "wheels" / manifest["wheel"]) as whl:
        init = whl.read("ksef_edge/__init__.py").decode()
        meta = whl.read("ksef_edge-3.2.1rc1.dist-info/METADATA").decode()
    assert '__version__ = "3.2.1rc1"' in init and "Version: 3.2.1rc1" in meta
    assert (top / "share/systemd/ksef-edge.service").read_bytes() == (REPO / "systemd/ksef-edge.service").read_bytes()


def test_bad_version_is_refused_with_the_reason(tmp_path: Path):
    proc = subprocess.run([sys.executable, str(BUILD), "--out", str(tmp_path), "--version", "next week",
                           "--no-dependency-wheels"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1 and "is not a PEP 440 version" in proc.stderr


@pytest.mark.slow  # builds/installs every dependency wheel (tpm2-pytss, systemd-python compile if not cached)
def test_full_release_installs_offline_into_a_fresh_venv(tmp_path: Path):
    top = unpack(build(tmp_path / "dist", "--version", "0.0.1"), tmp_path / "x")
    manifest = json.loads((top / "release.json").read_text())
    assert manifest["dependency_wheels"] and any(w.startswith("tpm2_pytss-") for w in manifest["wheels"])
    venv = tmp_path / "venv"
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", str(venv)], check=True, timeout=300)
    env = {"PIP_CONFIG_FILE": "/dev/null", "PATH": "/usr/bin:/bin"}
    pip = [str(venv / "bin/python"), "-m", "pip", "install", "--quiet", "--no-index"]
    subprocess.run([*pip, "--find-links", str(top / "wheels"), "--require-hashes", "-r", str(top / "requirements.lock")],
                   check=True, env=env, timeout=600)
    subprocess.run([*pip, "--no-deps", str(top / "wheels" / manifest["wheel"])], check=True, env=env, timeout=300)
    out = subprocess.run([str(venv / "bin/ksef-edge"), "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "ksef-edge 0.0.1"


@pytest.mark.skipif(platform.machine() == "aarch64", reason="on aarch64 --arch arm64 is a native build")
def test_arch_build_refuses_another_source_tree(tmp_path: Path):
    """`--arch arm64` builds this checkout inside the aarch64 root (scripts/test-arm64 runs it for real);
    it says so instead of silently building something else."""
    proc = subprocess.run([sys.executable, str(BUILD), "--out", str(tmp_path), "--arch", "arm64", "--source",
                           str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1 and "--source is not supported" in proc.stderr
