"""First-boot provisioning (`ksef-edge provision`) into a temp root: what a shop owner and the fleet rely on.

Real parts: systemd-sysusers/-tmpfiles (or useradd) on the temp root, the keystore's own key/csr/cert/
token commands, a real swtpm for the TPM backend. Nothing outside the temp root is touched.
"""
from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from ksef_edge.config import load_config
from ksef_edge.keystore.devcert import AUTHENTICATION, make_test_certificate

REPO = Path(__file__).resolve().parents[1]
NIP = "5265877635"
BASE_ARGS = ["--nip", NIP, "--seller-name", "Piekarnia Testowa Sp. z o.o.", "--address-line1", "ul. Kwiatowa 1",
             "--address-line2", "00-001 Warszawa", "--pos-id", "KASA1", "--environment", "test"]


def provision(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ksef_edge", "provision", *args], capture_output=True, text=True,
                          input=stdin.decode() if stdin else None, timeout=120)


def init(root: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    proc = provision("init", "--root", str(root), *BASE_ARGS, *extra)
    return proc


def csr_of(root: Path) -> x509.CertificateSigningRequest:
    return x509.load_der_x509_csr((root / "var/lib/ksef-edge/offline.csr").read_bytes())


def spki(key) -> bytes:
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


@pytest.fixture(scope="module")
def provisioned(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    root = tmp_path_factory.mktemp("device")
    proc = init(root, "--backend", "file")
    assert proc.returncode == 0, proc.stderr
    return root, proc


def test_init_creates_user_directories_unit_and_a_config_the_daemon_loads(provisioned):
    root, _ = provisioned
    passwd = (root / "etc/passwd").read_text()
    assert any(line.startswith("ksef-edge:") and line.endswith(":/usr/sbin/nologin") for line in passwd.splitlines())
    groups = {line.split(":")[0]: line.split(":")[3] for line in (root / "etc/group").read_text().splitlines()}
    assert "ksef-edge" in groups["tss"] and "ksef-edge" in groups["lp"]  # TPM and printer access
    for path, mode in (("var/lib/ksef-edge", 0o700), ("var/lib/ksef-edge/keystore", 0o700),
                       ("etc/ksef-edge/credentials", 0o700), ("var/backups/ksef-edge", 0o700)):
        assert stat.S_IMODE((root / path).stat().st_mode) == mode, path
    unit = root / "etc/systemd/system/ksef-edge.service"
    assert unit.read_bytes() == (REPO / "systemd/ksef-edge.service").read_bytes()
    cfg = load_config(root / "etc/ksef-edge/device.toml")
    assert (cfg.seller.nip, cfg.seller.name, cfg.device.pos_id) == (NIP, "Piekarnia Testowa Sp. z o.o.", "KASA1")
    assert cfg.ksef.environment.value == "test" and cfg.keystore.backend == "file"
    assert cfg.store.path.resolve() == (root / "var/lib/ksef-edge/outbox.sqlite3").resolve()  # inside the root
    assert stat.S_IMODE((root / "etc/ksef-edge/credentials/ksef-api-token").stat().st_mode) == 0o600


def test_init_emits_a_signed_csr_for_the_device_key_naming_the_seller(provisioned):
    root, proc = provisioned
    csr = csr_of(root)
    assert csr.is_signature_valid
    assert NIP in csr.subject.rfc4514_string()
    assert "provision finish --certificate" in proc.stdout  # tells the owner the next step
    key_pem = (root / "var/lib/ksef-edge/keystore/offline-key.pem").read_bytes()
    assert b"ENCRYPTED PRIVATE KEY" in key_pem  # the file backend never stores a plain key


def test_secrets_never_appear_in_the_output(provisioned):
    root, proc = provisioned
    for name in ("ksef-api-token", "ksef-key-passphrase"):
        secret = (root / "etc/ksef-edge/credentials" / name).read_text().strip()
        assert secret not in proc.stdout + proc.stderr


def test_rerun_keeps_the_key_and_config_and_only_force_replaces_the_key(tmp_path: Path):
    assert init(tmp_path, "--backend", "file").returncode == 0
    key = tmp_path / "var/lib/ksef-edge/keystore/offline-key.pem"
    first_key, first_pub = key.read_bytes(), spki(csr_of(tmp_path).public_key())
    config = (tmp_path / "etc/ksef-edge/device.toml").read_text()

    again = provision("init", "--root", str(tmp_path), *BASE_ARGS[:-2], "--environment", "prod")
    assert again.returncode == 0, again.stderr
    assert "kept" in again.stdout and "never replaced without --force-new-key" in again.stdout
    assert "differs from these parameters" in again.stdout
    assert key.read_bytes() == first_key and spki(csr_of(tmp_path).public_key()) == first_pub
    assert (tmp_path / "etc/ksef-edge/device.toml").read_text() == config

    forced = init(tmp_path, "--force-new-key")
    assert forced.returncode == 0, forced.stderr
    assert spki(csr_of(tmp_path).public_key()) != first_pub


def test_finish_refuses_an_authentication_certificate_and_installs_the_offline_one(tmp_path: Path):
    assert init(tmp_path, "--backend", "file").returncode == 0
    pub = csr_of(tmp_path).public_key()
    wrong = tmp_path / "auth.crt"
    wrong.write_bytes(make_test_certificate(pub, nip=NIP, kind=AUTHENTICATION))
    refused = provision("finish", "--root", str(tmp_path), "--certificate", str(wrong))
    assert refused.returncode == 2
    assert "Authentication" in refused.stderr and "Offline" in refused.stderr
    assert not (tmp_path / "var/lib/ksef-edge/keystore/offline-cert.pem").exists()

    good = tmp_path / "offline.crt"
    good.write_bytes(make_test_certificate(pub, nip=NIP))
    token = "ksef-token-20250101-ABCDEF0123456789ABCDEF"
    token_file = tmp_path / "token.txt"
    token_file.write_text(token + "\n")
    done = provision("finish", "--root", str(tmp_path), "--certificate", str(good), "--ksef-token-file", str(token_file))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "OK signer ok" in done.stdout
    assert token not in done.stdout + done.stderr
    assert token not in (tmp_path / "var/lib/ksef-edge/keystore/ksef-token.json").read_text()  # kept encrypted
    status = provision("status", "--root", str(tmp_path))
    assert status.returncode == 0 and "missing" not in status.stdout


def test_bad_parameters_are_refused_before_anything_is_written(tmp_path: Path):
    args = [a if a != NIP else "1234567890" for a in BASE_ARGS]
    proc = provision("init", "--root", str(tmp_path), *args)
    assert proc.returncode == 2
    assert "--nip '1234567890' is not a valid NIP" in proc.stderr
    assert list(tmp_path.iterdir()) == []
    status = provision("status", "--root", str(tmp_path))
    assert status.returncode == 1 and "device config    missing" in status.stdout


def test_without_systemd_tools_useradd_gives_the_same_user_and_groups(tmp_path: Path):
    proc = init(tmp_path, "--backend", "file", "--no-systemd-tools")
    assert proc.returncode == 0, proc.stderr
    assert "(useradd)" in proc.stdout
    groups = {line.split(":")[0]: line.split(":")[3] for line in (tmp_path / "etc/group").read_text().splitlines()}
    assert "ksef-edge" in groups["tss"] and "ksef-edge" in groups["lp"]
    assert stat.S_IMODE((tmp_path / "var/lib/ksef-edge").stat().st_mode) == 0o700


def test_tpm_backend_keeps_the_key_inside_the_tpm(tmp_path: Path, swtpm_tcti: str):
    proc = init(tmp_path, "--backend", "tpm", "--tcti", swtpm_tcti)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    cfg = load_config(tmp_path / "etc/ksef-edge/device.toml")
    assert cfg.keystore.backend == "tpm" and cfg.keystore.tcti == swtpm_tcti
    assert not (tmp_path / "etc/ksef-edge/credentials/ksef-key-passphrase").exists()  # no file key, no passphrase
    blob = (tmp_path / "var/lib/ksef-edge/keystore/offline-key.pem").read_bytes()
    assert blob.startswith(b"-----BEGIN TSS2 PRIVATE KEY-----")  # wrapped by the TPM: useless elsewhere
    assert csr_of(tmp_path).is_signature_valid  # signed by the key inside the TPM
    assert os.path.getsize(tmp_path / "var/lib/ksef-edge/offline.csr") > 0


def _systemd_creds_works(tmp: Path) -> bool:
    import shutil

    if shutil.which("systemd-creds") is None:
        return False
    probe = subprocess.run(["systemd-creds", "encrypt", "--name=probe", "-", str(tmp / "probe.cred")],
                           input=b"x", capture_output=True)
    return probe.returncode == 0


def test_encrypted_provisioning_leaves_no_plain_text_secret(tmp_path):
    """Issue 19: after `provision` encrypts a secret (systemd-creds), no plain-text copy remains anywhere."""
    if not _systemd_creds_works(tmp_path):
        pytest.skip("systemd-creds cannot encrypt on this machine")
    root = tmp_path / "device"
    proc = init(root, "--backend", "file", "--encrypt-credentials")
    assert proc.returncode == 0, proc.stderr
    creds = root / "etc/ksef-edge/credentials"
    assert sorted(p.name for p in creds.iterdir()) == ["ksef-api-token.cred", "ksef-key-passphrase.cred"]
    secrets = []
    for name in ("ksef-api-token", "ksef-key-passphrase"):
        assert stat.S_IMODE((creds / f"{name}.cred").stat().st_mode) == 0o600
        value = subprocess.run(["systemd-creds", "decrypt", f"--name={name}", str(creds / f"{name}.cred"), "-"],
                               capture_output=True, check=True).stdout.strip()
        assert len(value) >= 32
        secrets.append(value)
    # the key was generated with the decrypted passphrase: it opens with it
    key_pem = (root / "var/lib/ksef-edge/keystore/offline-key.pem").read_bytes()
    assert serialization.load_pem_private_key(key_pem, password=secrets[1]) is not None
    # no file anywhere in the tree (nor the output) holds either secret in plain text
    for path in root.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert not any(s in data for s in secrets), path
    assert not any(s.decode() in proc.stdout + proc.stderr for s in secrets)
    # re-running keeps the encrypted secrets and writes no plain copy
    before = {p.name: p.read_bytes() for p in creds.iterdir()}
    again = init(root, "--backend", "file", "--encrypt-credentials")
    assert again.returncode == 0, again.stderr
    assert {p.name: p.read_bytes() for p in creds.iterdir()} == before


def test_plain_secret_from_an_earlier_run_is_encrypted_and_removed(tmp_path):
    if not _systemd_creds_works(tmp_path):
        pytest.skip("systemd-creds cannot encrypt on this machine")
    root = tmp_path / "device"
    assert init(root, "--backend", "file").returncode == 0  # plain files (no systemd-creds asked for)
    creds = root / "etc/ksef-edge/credentials"
    token = (creds / "ksef-api-token").read_bytes()
    proc = init(root, "--backend", "file", "--encrypt-credentials")
    assert proc.returncode == 0, proc.stderr
    assert not (creds / "ksef-api-token").exists() and not (creds / "ksef-key-passphrase").exists()
    decrypted = subprocess.run(["systemd-creds", "decrypt", "--name=ksef-api-token",
                                str(creds / "ksef-api-token.cred"), "-"], capture_output=True, check=True).stdout
    assert decrypted == token  # the same secret, now only encrypted


def test_init_creates_the_api_tls_certificate_and_shows_its_fingerprint(provisioned):
    import hashlib

    root, proc = provisioned
    cert = x509.load_pem_x509_certificate((root / "var/lib/ksef-edge/tls/api-cert.pem").read_bytes())
    fp = hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest().upper()
    shown = ":".join(fp[i:i + 2] for i in range(0, len(fp), 2))
    assert shown in proc.stdout
    assert stat.S_IMODE((root / "var/lib/ksef-edge/tls/api-key.pem").stat().st_mode) == 0o600
