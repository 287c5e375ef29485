"""KSeF token custody: encrypted with the key passphrase or sealed in a real swtpm; never plain on disk."""
from __future__ import annotations

from pathlib import Path

import pytest

from ksef_edge.keystore import KeystoreConfig
from ksef_edge.keystore.errors import KeystoreError, TokenError
from ksef_edge.keystore.token_store import load_token, store_token
from tpm_fixtures import running_swtpm

# Shape of a KSeF token (oapi:/tokens example): long, with '|' separators.
TOKEN = "20251010-EC-1A2B3C4D5E-F6A7B8C9D0-E1|nip-5265877635|" + "0123456789abcdef" * 4


def _file_cfg(tmp_path: Path, passphrase: bytes = b"shop passphrase\n") -> KeystoreConfig:
    pp = tmp_path / "pp"
    pp.write_bytes(passphrase)
    pp.chmod(0o600)
    return KeystoreConfig(backend="file", token_path=tmp_path / "ks" / "token.json",
                          passphrase_credential=None, passphrase_file=pp)


def _tpm_cfg(tmp_path: Path, tcti: str) -> KeystoreConfig:
    return KeystoreConfig(backend="tpm", tcti=tcti, token_path=tmp_path / "ks" / "token.json")


def _assert_not_on_disk(path: Path) -> None:
    data = path.read_bytes()
    for fragment in (TOKEN, TOKEN[:20], "nip-5265877635", "0123456789abcdef"):
        assert fragment.encode() not in data
    assert (path.stat().st_mode & 0o777) == 0o600


def test_file_custody_roundtrip_without_plain_text(tmp_path):
    cfg = _file_cfg(tmp_path)
    store_token(cfg, TOKEN + "\n")
    _assert_not_on_disk(cfg.token_path)
    assert load_token(cfg) == TOKEN


def test_file_custody_wrong_passphrase(tmp_path):
    cfg = _file_cfg(tmp_path)
    store_token(cfg, TOKEN)
    cfg.passphrase_file.write_bytes(b"other\n")
    with pytest.raises(TokenError) as e:
        load_token(cfg)
    assert e.value.code == "token_decrypt_failed" and "ksef-edge token set" in str(e.value)


def test_tampered_token_file_is_refused(tmp_path):
    cfg = _file_cfg(tmp_path)
    store_token(cfg, TOKEN)
    data = cfg.token_path.read_text().replace('"ciphertext": "', '"ciphertext": "AAAA', 1)
    cfg.token_path.write_text(data)
    with pytest.raises(TokenError) as e:
        load_token(cfg)
    assert e.value.code in ("token_decrypt_failed", "corrupt_token_file")


def test_missing_and_empty_token(tmp_path):
    cfg = _file_cfg(tmp_path)
    with pytest.raises(TokenError, match="ksef-edge token set"):
        load_token(cfg)
    with pytest.raises(TokenError) as e:
        store_token(cfg, "  \n")
    assert e.value.code == "empty_token"


def test_tpm_custody_roundtrip_without_plain_text(tmp_path, swtpm_tcti):
    cfg = _tpm_cfg(tmp_path, swtpm_tcti)
    store_token(cfg, TOKEN)
    _assert_not_on_disk(cfg.token_path)
    assert b"TSS2 PRIVATE KEY" in cfg.token_path.read_bytes()  # the AES key is sealed, not stored
    assert load_token(cfg) == TOKEN
    store_token(cfg, "replacement-token")
    assert load_token(cfg) == "replacement-token"


def test_tpm_sealed_token_does_not_open_on_another_tpm(tmp_path):
    with running_swtpm() as tcti:
        store_token(_tpm_cfg(tmp_path, tcti), TOKEN)
    with running_swtpm() as other:
        with pytest.raises(KeystoreError) as e:
            load_token(_tpm_cfg(tmp_path, other))
    assert e.value.code == "token_not_from_this_tpm" and "ksef-edge token set" in str(e.value)


def test_tpm_absent_for_token(tmp_path, free_tcp_port):
    with pytest.raises(KeystoreError) as e:
        store_token(_tpm_cfg(tmp_path, f"swtpm:host=127.0.0.1,port={free_tcp_port}"), TOKEN)
    assert e.value.code == "tpm_unreachable"
    assert TOKEN not in str(e.value)
