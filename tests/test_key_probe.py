"""`key generate` signs and verifies a probe with KSeF's parameters and keeps no key that fails (issue #17).

On swtpm the real TPM signatures (EC and RSA-PSS) pass. The failing cases are signer variants over the
real keys: RSA-PSS with the maximum salt (what some hardware TPMs do, TCG Part 1 B.7; swtpm cannot show
it) and a TPM ECDSA signature handed on in DER instead of P1363.
"""
from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from ksef_edge.keystore import KeystoreConfig, generate_key
from ksef_edge.keystore.sign_probe import KeyProbeError, pss_salt_length

pytest.importorskip("tpm2_pytss")


def _tpm_cfg(tmp_path: Path, tcti: str, algorithm: str) -> KeystoreConfig:
    return KeystoreConfig(backend="tpm", tcti=tcti, key_path=tmp_path / "ks" / "key.tss.pem",
                          cert_path=tmp_path / "ks" / "cert.pem", token_path=tmp_path / "ks" / "token.json",
                          key_algorithm=algorithm)


@pytest.mark.parametrize("algorithm", ["ec", "rsa"])
def test_tpm_keys_pass_the_probe_and_are_kept(tmp_path, swtpm_tcti, algorithm):
    cfg = _tpm_cfg(tmp_path, swtpm_tcti, algorithm)
    key = generate_key(cfg)
    try:
        if algorithm == "rsa":  # swtpm signs PSS with salt 32, as KSeF requires
            data = b"probe"
            assert pss_salt_length(key.public_key(), data, key.sign(data)) == 32
    finally:
        key.close()
    assert cfg.key_path.exists()


def test_tpm_signature_in_the_wrong_format_is_refused_and_the_key_not_kept(tmp_path, swtpm_tcti, monkeypatch):
    from ksef_edge.keystore import tpm_backend

    real_sign = tpm_backend.TpmKey.sign

    def der_sign(self, data: bytes) -> bytes:  # a driver that passes the TPM's ECDSA on as DER
        sig = real_sign(self, data)
        return encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big"))

    monkeypatch.setattr(tpm_backend.TpmKey, "sign", der_sign)
    cfg = _tpm_cfg(tmp_path, swtpm_tcti, "ec")
    with pytest.raises(KeyProbeError) as e:
        generate_key(cfg)
    assert e.value.code == "key_probe_failed" and "P1363" in e.value.message and "TPM" in e.value.message
    assert not cfg.key_path.exists()


def test_rsa_key_signing_pss_with_the_maximum_salt_is_refused_recommending_ec(tmp_path, monkeypatch):
    from ksef_edge.keystore import file_backend

    def max_salt_sign(self, data: bytes) -> bytes:  # the TCG B.7 behaviour of some hardware TPMs
        return self._key.sign(data, padding.PSS(mgf=padding.MGF1(hashes.SHA256()),
                                                salt_length=padding.PSS.MAX_LENGTH), hashes.SHA256())

    monkeypatch.setattr(file_backend.FileKey, "sign", max_salt_sign)
    (tmp_path / "pass").write_text("installer passphrase\n")
    (tmp_path / "pass").chmod(0o600)
    cfg = KeystoreConfig(backend="file", key_path=tmp_path / "ks" / "key.p8", cert_path=tmp_path / "ks" / "cert.pem",
                         token_path=tmp_path / "ks" / "token.json", passphrase_credential=None,
                         passphrase_file=tmp_path / "pass", key_algorithm="rsa")
    with pytest.raises(KeyProbeError) as e:
        generate_key(cfg)
    msg = e.value.message
    assert "salt of 222 bytes, KSeF requires 32" in msg and "--algorithm ec" in msg and "nie zachowano" in msg
    assert not cfg.key_path.exists()
