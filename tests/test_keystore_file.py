"""Encrypted-file key custody: real files, real scrypt/AES, KOD II signatures verified with cryptography."""
from __future__ import annotations

import datetime as dt
import os
import subprocess
from pathlib import Path

import pytest
from asn1crypto import keys as asn1_keys
from asn1crypto import pem as asn1_pem
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from ksef_edge.keystore import KeystoreConfig, generate_key, install_certificate, open_key, open_signer
from ksef_edge.keystore.devcert import make_test_certificate
from ksef_edge.keystore.errors import CertificateError, KeyFileError
from official_vectors import TV2_SIGN_STRING

SHOP_NIP = "5265877635"


@pytest.fixture
def cfg(tmp_path: Path) -> KeystoreConfig:
    pp = tmp_path / "passphrase"
    pp.write_bytes(b"a long shop passphrase\n")
    pp.chmod(0o600)
    return KeystoreConfig(
        backend="file",
        key_path=tmp_path / "keystore" / "offline-key.pem",
        cert_path=tmp_path / "keystore" / "offline-cert.pem",
        token_path=tmp_path / "keystore" / "token.json",
        passphrase_credential=None,
        passphrase_file=pp,
    )


def _verify_kod2(public_key, signature: bytes, data: bytes) -> None:
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        assert len(signature) == 64  # IEEE P1363 r||s
        der = encode_dss_signature(int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big"))
        public_key.verify(der, data, ec.ECDSA(hashes.SHA256()))
    else:
        assert len(signature) == 256
        public_key.verify(
            signature, data, padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32), hashes.SHA256()
        )


def _install(cfg, kind="Offline", **kw):
    key = open_key(cfg)
    try:
        pem = make_test_certificate(key.public_key(), nip=SHOP_NIP, kind=kind, **kw)
    finally:
        key.close()
    return install_certificate(cfg, pem, seller_nip=SHOP_NIP)


@pytest.mark.parametrize("algorithm", ["ec", "rsa"])
def test_generated_key_signs_kod2_verifiable_against_certificate(cfg, algorithm):
    generate_key(cfg, algorithm=algorithm).close()
    assert (cfg.key_path.stat().st_mode & 0o777) == 0o600
    _install(cfg)
    from cryptography import x509

    with open_signer(cfg, seller_nip=SHOP_NIP) as signer:
        sig = signer.sign(TV2_SIGN_STRING.encode())
        cert = x509.load_der_x509_certificate(signer.certificate_der)
        _verify_kod2(cert.public_key(), sig, TV2_SIGN_STRING.encode())
        assert len(signer.certificate_serial) == 16 and signer.certificate_serial.upper() == signer.certificate_serial


def test_kod2_link_from_domain_verifies(cfg):
    qr = pytest.importorskip("ksef_edge.domain.qr")
    from cryptography import x509

    generate_key(cfg).close()
    _install(cfg)
    with open_signer(cfg, seller_nip=SHOP_NIP) as signer:
        url = qr.kod2_url(qr.QrEnvironment.TEST, "Nip", SHOP_NIP, SHOP_NIP, b"<Faktura/>", signer)
        pub = x509.load_der_x509_certificate(signer.certificate_der).public_key()
        assert qr.verify_kod2_url(url, pub)
        sign_string, sig = qr.split_kod2_url(url)
        _verify_kod2(pub, sig, sign_string.encode())
        assert f"/{signer.certificate_serial}/" in url


def test_key_file_is_scrypt_pbes2_and_opens_with_openssl(cfg):
    generate_key(cfg).close()
    kind, _, der = asn1_pem.unarmor(cfg.key_path.read_bytes())
    assert kind == "ENCRYPTED PRIVATE KEY"
    assert b"BEGIN PRIVATE KEY" not in cfg.key_path.read_bytes()
    # parse the algorithm identifiers independently of our writer: PBES2 with the scrypt OID
    info = asn1_keys.EncryptedPrivateKeyInfo.load(der)
    assert info["encryption_algorithm"]["algorithm"].dotted == "1.2.840.113549.1.5.13"
    assert b"\x06\x09\x2b\x06\x01\x04\x01\xda\x47\x04\x0b" in der  # OID 1.3.6.1.4.1.11591.4.11 (scrypt)
    out = subprocess.run(
        ["openssl", "pkey", "-in", str(cfg.key_path), "-passin", f"file:{cfg.passphrase_file}", "-pubout"],
        capture_output=True,
    )
    assert out.returncode == 0, out.stderr
    key = open_key(cfg)
    from cryptography.hazmat.primitives import serialization

    assert out.stdout == key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def test_existing_key_is_never_replaced_without_force(cfg):
    generate_key(cfg).close()
    before = cfg.key_path.read_bytes()
    with pytest.raises(KeyFileError) as e:
        generate_key(cfg)
    assert e.value.code == "already_exists" and "--force" in str(e.value)
    assert cfg.key_path.read_bytes() == before
    generate_key(cfg, force=True).close()
    assert cfg.key_path.read_bytes() != before


def test_wrong_passphrase_is_a_clear_error(cfg, tmp_path):
    generate_key(cfg).close()
    cfg.passphrase_file.write_bytes(b"not the passphrase\n")
    with pytest.raises(KeyFileError) as e:
        open_key(cfg)
    assert e.value.code == "wrong_passphrase"
    assert str(cfg.passphrase_file) in str(e.value)
    assert "not the passphrase" not in str(e.value)


def test_corrupt_key_file_is_a_clear_error(cfg):
    generate_key(cfg).close()
    data = cfg.key_path.read_bytes()
    cfg.key_path.write_bytes(data[: len(data) // 2])
    with pytest.raises(KeyFileError) as e:
        open_key(cfg)
    assert e.value.code == "corrupt_key_file" and "backup" in str(e.value)


def test_group_readable_key_file_is_refused_naming_chmod(cfg):
    generate_key(cfg).close()
    cfg.key_path.chmod(0o644)
    with pytest.raises(KeyFileError) as e:
        open_key(cfg)
    assert e.value.code == "file_permissions"
    assert f"chmod 600 {cfg.key_path}" in str(e.value)


def test_passphrase_from_systemd_credentials_directory(cfg, tmp_path, monkeypatch):
    generate_key(cfg).close()
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "ksef-edge-key").write_bytes(cfg.passphrase_file.read_bytes())
    (creds / "ksef-edge-key").chmod(0o400)
    via_cred = KeystoreConfig(backend="file", key_path=cfg.key_path, cert_path=cfg.cert_path,
                              passphrase_credential="ksef-edge-key")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(creds))
    open_key(via_cred).close()
    monkeypatch.delenv("CREDENTIALS_DIRECTORY")
    with pytest.raises(KeyFileError) as e:
        open_key(via_cred)
    assert e.value.code == "no_credentials_directory" and "LoadCredential=" in str(e.value)


def test_world_readable_passphrase_file_is_refused(cfg):
    cfg.passphrase_file.chmod(0o644)
    with pytest.raises(KeyFileError) as e:
        generate_key(cfg)
    assert e.value.code == "file_permissions"
    assert not cfg.key_path.exists()


def test_unencrypted_key_file_is_refused(cfg):
    from cryptography.hazmat.primitives import serialization

    key = ec.generate_private_key(ec.SECP256R1())
    cfg.key_path.parent.mkdir(parents=True)
    cfg.key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
    cfg.key_path.chmod(0o600)
    with pytest.raises(KeyFileError) as e:
        open_key(cfg)
    assert e.value.code == "unencrypted_key_file"


def test_missing_key_and_missing_certificate_name_the_command(cfg):
    with pytest.raises(KeyFileError, match="ksef-edge key generate"):
        open_key(cfg)
    generate_key(cfg).close()
    with pytest.raises(CertificateError, match="ksef-edge cert install"):
        open_signer(cfg, seller_nip=SHOP_NIP)


def test_open_signer_refuses_authentication_certificate_and_install_keeps_old_one(cfg):
    generate_key(cfg).close()
    _install(cfg)
    good = cfg.cert_path.read_bytes()
    with pytest.raises(CertificateError) as e:
        _install(cfg, kind="Authentication")
    assert e.value.code == "authentication_certificate"
    assert cfg.cert_path.read_bytes() == good  # a refused certificate is not installed


def test_open_signer_rechecks_at_every_start(cfg):
    generate_key(cfg).close()
    now = dt.datetime.now(dt.timezone.utc)
    _install(cfg, not_before=now - dt.timedelta(days=10), not_after=now + dt.timedelta(days=5))
    with open_signer(cfg, seller_nip=SHOP_NIP) as signer:
        assert any("expires on" in w for w in signer.warnings)
    with pytest.raises(CertificateError) as e:
        open_signer(cfg, seller_nip=SHOP_NIP, now=now + dt.timedelta(days=6))
    assert e.value.code == "expired"
    with open_signer(cfg, seller_nip="1111111111") as signer:  # another seller: accepted, KSeF checks permissions
        assert any("KSeF sprawdzi" in w and "NIP 1111111111" in w for w in signer.warnings)


def test_regenerated_key_no_longer_matches_installed_certificate(cfg):
    generate_key(cfg).close()
    _install(cfg)
    generate_key(cfg, force=True).close()
    with pytest.raises(CertificateError) as e:
        open_signer(cfg, seller_nip=SHOP_NIP)
    assert e.value.code == "key_mismatch"


def test_secret_never_in_repr(cfg):
    backend = generate_key(cfg)
    assert "PRIVATE" not in repr(backend) and "hidden" in repr(backend)
    assert os.fspath(cfg.passphrase_file) not in repr(backend)
