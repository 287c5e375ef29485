"""Device TOML -> typed config; every bad key is named with a reason."""
from __future__ import annotations

import dataclasses
import re
import tomllib
from pathlib import Path

import pytest

from ksef_edge.config import (
    ApiConfig,
    ClockConfig,
    ConfigError,
    DeviceConfig,
    KsefConfig,
    SellerConfig,
    StoreConfig,
    load_config,
    parse_config,
)
from ksef_edge.keystore import KeystoreConfig
from ksef_edge.printing import PrinterConfig
from ksef_edge.store.numbering import SeriesPattern

EXAMPLE = Path(__file__).resolve().parents[1] / "firmware-config" / "device.example.toml"


def example(tmp_path: Path) -> dict:
    raw = tomllib.loads(EXAMPLE.read_text())
    (tmp_path / "pos-token").write_text("0123456789abcdef0123\n")
    raw["api"]["token_file"] = "pos-token"
    raw["printer"] = {"connection": "none"}
    return raw


def test_example_config_loads_and_documents_every_key(tmp_path):
    cfg = parse_config(example(tmp_path), base_dir=tmp_path)
    assert cfg.api.token == "0123456789abcdef0123" and "0123456789" not in repr(cfg.api)
    assert isinstance(cfg.keystore, KeystoreConfig) and cfg.keystore.backend == "tpm"
    assert isinstance(cfg.printer, PrinterConfig)
    assert cfg.ksef.api_base_url == "https://api.ksef.mf.gov.pl/v2" and cfg.ksef.qr_environment == "prd"
    assert cfg.ksef.context_value == cfg.seller.nip
    text = EXAMPLE.read_text()
    for section, cls in (("device", DeviceConfig), ("seller", SellerConfig), ("api", ApiConfig), ("store", StoreConfig),
                         ("keystore", KeystoreConfig), ("printer", PrinterConfig), ("ksef", KsefConfig), ("clock", ClockConfig)):
        for f in dataclasses.fields(cls):
            if f.name == "token":
                continue
            assert re.search(rf"^#? ?{f.name} =", text, re.M), f"[{section}] {f.name} is not documented"


@pytest.mark.parametrize(
    "mutate,key,reason",
    [
        (lambda r: r["seller"].update(nip="1234567890"), "seller.nip", "not a valid NIP"),
        (lambda r: r["device"].update(series_pattern="FV/{pos}/{yyyy}"), "device.series_pattern", "{seq}"),
        (lambda r: r["device"].update(series_pattern="FV/{shop}/{seq}"), "device.series_pattern", "unknown placeholder"),
        (lambda r: r["api"].update(listen_port="8787"), "api.listen_port", "must be an integer"),
        (lambda r: r["api"].update(token="inline-secret-123456"), "api.token", "not allowed inline"),
        (lambda r: r["api"].update(token_file="missing-token"), "api.token_file", "does not exist"),
        (lambda r: r["api"].update(colour="red"), "api.colour", "unknown key"),
        (lambda r: r["ksef"].update(environment="staging"), "ksef.environment", "'staging' is not allowed"),
        (lambda r: r["ksef"].update(environment="simulator"), "ksef.api_base_url", "required"),
        (lambda r: r["keystore"].update(backend="hsm"), "keystore.backend", "hsm"),
        (lambda r: r["printer"].update(connection="network"), "printer.host", "needs host"),
        (lambda r: r.pop("store"), "store", "section is missing"),
        (lambda r: r["clock"].update(require_sync="yes"), "clock.require_sync", "true or false"),
    ],
)
def test_bad_config_names_key_and_reason(tmp_path, mutate, key, reason):
    raw = example(tmp_path)
    mutate(raw)
    with pytest.raises(ConfigError) as exc:
        parse_config(raw, base_dir=tmp_path)
    assert exc.value.key == key
    assert reason in str(exc.value)
    assert "inline-secret-123456" not in str(exc.value)


def test_short_token_and_bad_toml_are_refused(tmp_path):
    (tmp_path / "device.toml").write_text("[device\npos_id=1")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(tmp_path / "device.toml")
    raw = example(tmp_path)
    (tmp_path / "pos-token").write_text("short\n")
    with pytest.raises(ConfigError, match="at least 16"):
        parse_config(raw, base_dir=tmp_path)


def test_series_pattern_numbers_and_monthly_series():
    import datetime as dt

    p = SeriesPattern("FV/{pos}/{yyyy}/{mm}/{seq:06}", "KASA1")
    assert p.number(dt.date(2026, 2, 3), 7) == "FV/KASA1/2026/02/000007"
    assert p.series(dt.date(2026, 2, 3)) == "FV/KASA1/2026/02/#"
    assert p.series(dt.date(2026, 3, 1)) != p.series(dt.date(2026, 2, 28))
