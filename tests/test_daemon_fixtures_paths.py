"""The daemon fixtures keep every file a test makes in its own tmp dir: never the device's /var/lib/ksef-edge
(a test run on a real till must not touch its keystore, and no test may depend on what another left there)."""
from __future__ import annotations

from pathlib import Path

from daemon_fixtures import daemon_process, write_dev_keystore, write_device_config
from ksef_edge.config import load_config
from ksef_edge.keystore import DEFAULT_DIR


def _state(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return st.st_mtime_ns, st.st_size


def _keystore_paths(config: Path) -> list[Path]:
    ks = load_config(config).keystore
    return [p for p in (ks.key_path, ks.cert_path, ks.token_path, ks.passphrase_file) if p is not None]


def test_every_keystore_path_of_the_fixture_configs_is_in_the_test_dir(tmp_path):
    in_process = write_device_config(tmp_path / "a")
    (tmp_path / "b").mkdir()
    files = write_device_config(tmp_path / "b", keystore_toml=write_dev_keystore(tmp_path / "b"))
    for cfg, root in ((in_process.config, tmp_path / "a"), (files.config, tmp_path / "b")):
        for path in _keystore_paths(cfg):
            assert root in path.parents, path


def test_daemon_process_stores_the_ksef_token_in_the_test_dir(tmp_path):
    device_token = DEFAULT_DIR / "ksef-token.json"
    before = _state(device_token)
    with daemon_process(tmp_path / "device", ksef_token="test-ksef-token-not-a-secret") as d:
        token_path = load_config(d.files.config).keystore.token_path
        assert token_path.is_file() and tmp_path in token_path.parents
        assert b"test-ksef-token-not-a-secret" not in token_path.read_bytes()  # stored encrypted
    assert _state(device_token) == before, f"{device_token} was written by a test"
