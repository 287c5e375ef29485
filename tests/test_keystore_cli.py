"""`ksef-edge key|cert|token` end to end, as an installer runs them (subprocess, real files, real swtpm)."""
from __future__ import annotations

import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from cryptography import x509

from cert_factories import make_identity_certificate
from daemon_fixtures import SELLER_NIP, write_device_config
from ksef_edge.keystore.devcert import make_test_certificate
from official_vectors import TV3_CERT_B64

KSEF_EDGE = str(Path(sys.executable).parent / "ksef-edge")
SHOP_NIP = "5265877635"
TOKEN = "20251010-EC-1A2B3C4D5E-F6A7B8C9D0-E1|nip-5265877635|c0ffee" * 2


def run(*args: str, stdin: str | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([KSEF_EDGE, *args], input=stdin, capture_output=True, text=True, cwd=cwd, timeout=60)


def assert_clean_error(proc: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("ksef-edge: error: "), proc.stderr
    for f in fragments:
        assert f in lines[0], lines[0]


@pytest.fixture
def file_flags(tmp_path: Path) -> list[str]:
    pp = tmp_path / "passphrase"
    pp.write_text("installer passphrase\n")
    pp.chmod(0o600)
    return ["--backend", "file", "--key-file", str(tmp_path / "ks/key.pem"), "--cert-file", str(tmp_path / "ks/cert.pem"),
            "--token-file", str(tmp_path / "ks/token.json"), "--passphrase-file", str(pp), "--nip", SHOP_NIP]


def _provision(tmp_path: Path, flags: list[str]) -> x509.CertificateSigningRequest:
    gen = run("key", "generate", *flags)
    assert gen.returncode == 0, gen.stderr
    assert "public key SHA-256" in gen.stdout
    csr_path = tmp_path / "offline.csr"
    csr = run("key", "csr", *flags, "--out", str(csr_path), "--organization", "Beta")
    assert csr.returncode == 0, csr.stderr
    req = x509.load_der_x509_csr(csr_path.read_bytes())
    assert req.is_signature_valid
    return req


def test_file_backend_provisioning_end_to_end(tmp_path, file_flags):
    req = _provision(tmp_path, file_flags)
    # a second generate never replaces the key
    again = run("key", "generate", *file_flags)
    assert_clean_error(again, "already exists", "--force")

    # KSeF would issue the certificate for the CSR; our test CA stands in for it
    (tmp_path / "offline.pem").write_bytes(make_test_certificate(req.public_key(), nip=SHOP_NIP, kind="Offline",
                                                                 serial=0x01F20A5D352AE591))
    inst = run("cert", "install", str(tmp_path / "offline.pem"), *file_flags)
    assert inst.returncode == 0, inst.stderr
    assert "installed Offline certificate 01F20A5D352AE591" in inst.stdout

    show = run("cert", "show", *file_flags)
    assert show.returncode == 0, show.stderr
    for fragment in ("Offline", "01F20A5D352AE591", f"2.5.4.97=VATPL-{SHOP_NIP}", "valid until", "file", "OK"):
        assert fragment in show.stdout, show.stdout


def test_cert_install_refuses_authentication_certificate(tmp_path, file_flags):
    req = _provision(tmp_path, file_flags)
    (tmp_path / "auth.pem").write_bytes(make_test_certificate(req.public_key(), nip=SHOP_NIP, kind="Authentication"))
    proc = run("cert", "install", str(tmp_path / "auth.pem"), *file_flags)
    assert_clean_error(proc, "Authentication certificate", "Offline")
    assert not (tmp_path / "ks/cert.pem").exists()


def test_cert_install_refuses_expired_and_other_key(tmp_path, file_flags):
    req = _provision(tmp_path, file_flags)
    now = datetime.now(timezone.utc)
    expired = tmp_path / "expired.pem"
    expired.write_bytes(make_test_certificate(req.public_key(), nip=SHOP_NIP, not_before=now - timedelta(days=800),
                                              not_after=now - timedelta(days=1)))
    assert_clean_error(run("cert", "install", str(expired), *file_flags), "expired")
    from cryptography.hazmat.primitives.asymmetric import ec

    foreign = tmp_path / "foreign.pem"
    foreign.write_bytes(make_test_certificate(ec.generate_private_key(ec.SECP256R1()), nip=SHOP_NIP))
    assert_clean_error(run("cert", "install", str(foreign), *file_flags), "different key")


def test_cert_show_without_certificate_and_with_bad_key_permissions(tmp_path, file_flags):
    _provision(tmp_path, file_flags)
    assert_clean_error(run("cert", "show", *file_flags), "ksef-edge cert install")
    (tmp_path / "ks/key.pem").chmod(0o644)
    assert_clean_error(run("key", "csr", *file_flags, "--out", str(tmp_path / "x.csr"), "--organization", "B"),
                       "chmod 600")


def test_wrong_passphrase_via_cli(tmp_path, file_flags):
    _provision(tmp_path, file_flags)
    (tmp_path / "passphrase").write_text("wrong\n")
    assert_clean_error(run("key", "csr", *file_flags, "--out", str(tmp_path / "y.csr"), "--organization", "B"),
                       "does not open key file")


def test_token_set_reads_stdin_and_never_stores_plain_text(tmp_path, file_flags):
    proc = run("token", "set", *file_flags, stdin=TOKEN + "\n")
    assert proc.returncode == 0, proc.stderr
    assert TOKEN not in proc.stdout + proc.stderr
    data = (tmp_path / "ks/token.json").read_bytes()
    assert TOKEN.encode() not in data and b"c0ffee" not in data
    check = run("token", "check", *file_flags)
    assert check.returncode == 0 and f"{len(TOKEN)} characters" in check.stdout
    assert TOKEN not in check.stdout
    # the token can never be given on the command line
    argv = run("token", "set", TOKEN, *file_flags)
    assert argv.returncode == 2 and TOKEN not in (tmp_path / "ks/token.json").read_text()


def test_tpm_backend_provisioning_end_to_end(tmp_path, swtpm_tcti):
    flags = ["--backend", "tpm", "--tcti", swtpm_tcti, "--key-file", str(tmp_path / "ks/key.tss"),
             "--cert-file", str(tmp_path / "ks/cert.pem"), "--token-file", str(tmp_path / "ks/token.json"),
             "--nip", SHOP_NIP]
    req = _provision(tmp_path, flags)
    (tmp_path / "offline.der").write_bytes(
        x509.load_pem_x509_certificate(make_test_certificate(req.public_key(), nip=SHOP_NIP)).public_bytes(
            __import__("cryptography.hazmat.primitives.serialization", fromlist=["Encoding"]).Encoding.DER))
    inst = run("cert", "install", str(tmp_path / "offline.der"), *flags)
    assert inst.returncode == 0, inst.stderr
    show = run("cert", "show", *flags)
    assert show.returncode == 0, show.stderr
    assert "tpm (swtpm:host=127.0.0.1" in show.stdout and "OK" in show.stdout
    tok = run("token", "set", *flags, stdin=TOKEN)
    assert tok.returncode == 0, tok.stderr
    assert run("token", "check", *flags).returncode == 0


def test_tpm_absent_via_cli(tmp_path):
    from tpm_fixtures import _free_port_pair

    flags = ["--backend", "tpm", "--tcti", f"swtpm:host=127.0.0.1,port={_free_port_pair()}",
             "--key-file", str(tmp_path / "key.tss")]
    assert_clean_error(run("key", "generate", *flags), "cannot reach the TPM")


def test_commands_read_device_config(tmp_path):
    pp = tmp_path / "key-passphrase"
    pp.write_text("config passphrase\n")
    pp.chmod(0o600)
    files = write_device_config(tmp_path, keystore_toml=(
        'backend = "file"\nkey_path = "offline-key.p8"\ncert_path = "offline-cert.pem"\n'
        'token_path = "ksef-token.json"\npassphrase_file = "key-passphrase"\n'))
    assert SELLER_NIP == SHOP_NIP
    cfg = files.config
    gen = run("key", "generate", "--config", str(cfg))
    assert gen.returncode == 0, gen.stderr
    assert (tmp_path / "offline-key.p8").exists()
    csr = run("key", "csr", "--config", str(cfg), "--out", str(tmp_path / "o.csr"))
    assert csr.returncode == 0, csr.stderr
    req = x509.load_der_x509_csr((tmp_path / "o.csr").read_bytes())
    assert req.subject.rfc4514_string() == f"C=PL,2.5.4.97=VATPL-{SHOP_NIP},O=Piekarnia Testowa Sp. z o.o.,CN=Piekarnia Testowa Sp. z o.o."
    (tmp_path / "cert-in.pem").write_bytes(make_test_certificate(req.public_key(), nip=SHOP_NIP))
    assert run("cert", "install", str(tmp_path / "cert-in.pem"), "--config", str(cfg)).returncode == 0
    assert (tmp_path / "offline-cert.pem").exists()
    show = run("cert", "show", "--config", str(cfg))
    assert show.returncode == 0 and f"OK: signs KOD II for NIP {SHOP_NIP}" in show.stdout


@pytest.mark.parametrize("identity, shown", [
    ("pesel", "osoby fizycznej (PESEL …2345)"),
    ("other-nip", "podmiotu o NIP 1111111111"),
    ("no-nip", "podmiotu bez NIP"),
])
def test_cert_install_accepts_an_identity_certificate_with_a_permissions_warning(tmp_path, file_flags, identity, shown):
    """Issue #17: KSeF certificates carry an identity (a person's PESEL, another NIP), not the seller's context."""
    req = _provision(tmp_path, file_flags)
    pem = tmp_path / f"{identity}.pem"
    pem.write_bytes(make_identity_certificate(req.public_key(), identity=identity))
    inst = run("cert", "install", str(pem), *file_flags)
    assert inst.returncode == 0, inst.stderr
    assert "installed Offline certificate 01F20A5D352AE5A0" in inst.stdout
    for out in (inst.stdout, run("cert", "show", *file_flags).stdout):
        warning = next(line for line in out.splitlines() if line.startswith("warning: "))
        assert shown in warning and f"sprzedawcy NIP {SHOP_NIP}" in warning and "KSeF sprawdzi" in warning
        assert "KSeF will check this identity's permissions" in warning
    assert "90010112345" not in inst.stdout  # the PESEL is not printed whole
    show = run("cert", "show", *file_flags)
    assert show.returncode == 0 and f"OK: signs KOD II for NIP {SHOP_NIP}" in show.stdout


def test_cert_install_still_refuses_an_authentication_certificate_of_a_person(tmp_path, file_flags):
    req = _provision(tmp_path, file_flags)
    pem = tmp_path / "auth-pesel.pem"
    pem.write_bytes(make_identity_certificate(req.public_key(), identity="pesel", kind="Authentication"))
    assert_clean_error(run("cert", "install", str(pem), *file_flags), "Authentication certificate", "Offline")
    assert not (tmp_path / "ks/cert.pem").exists()


def test_cert_install_refuses_the_official_tv3_certificate_as_authentication(tmp_path, file_flags):
    """TV-3 (ksef-client-csharp QrCodeInvoiceEndpointsTests.cs) has keyUsage digitalSignature: an Authentication cert."""
    _provision(tmp_path, file_flags)
    pem = tmp_path / "tv3.b64"
    pem.write_text(TV3_CERT_B64)
    assert_clean_error(run("cert", "install", str(pem), *file_flags), "01F20A5D352AE590", "Authentication certificate")
    assert not (tmp_path / "ks/cert.pem").exists()
