"""Device TOML -> typed config; every bad key is named with a reason."""
from __future__ import annotations

import dataclasses
import re
import tomllib
from pathlib import Path

import pytest

from ksef_edge.archive import BackupConfig
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
                         ("keystore", KeystoreConfig), ("printer", PrinterConfig), ("ksef", KsefConfig), ("clock", ClockConfig),
                         ("backup", BackupConfig)):
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
        (lambda r: r["ksef"].update(uplink_batch_invoices_max=20000), "ksef.uplink_batch_invoices_max", "10000"),
        (lambda r: r["ksef"].update(uplink_lost_grace_s=10.0), "ksef.uplink_lost_grace_s", "longer than uplink_timeout_s"),
        (lambda r: r["ksef"].update(outages=[{"kind": "STORM", "start": "2026-03-02"}]), "ksef.outages[0].kind", "FAILURE"),
        (lambda r: r["ksef"].update(outages=[{"kind": "FAILURE", "start": "2026-03-05", "end": "2026-03-02"}]),
         "ksef.outages[0].end", "before start"),
        (lambda r: r["printer"].update(reprint_on_accept="yes"), "printer.reprint_on_accept", "true or false"),
        (lambda r: r["backup"].update(keep=0), "backup.keep", "at least 1"),
        (lambda r: r["backup"].update(interval_s=5), "backup.interval_s", "at least 60"),
        (lambda r: r["backup"].update(colour="red"), "backup.colour", "unknown key"),
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


def test_uplink_tuning_outages_reprint_and_backup_reach_their_layers(tmp_path):
    import datetime as dt

    raw = example(tmp_path)
    raw["ksef"].update(uplink_batch_threshold=50, uplink_batch_invoices_max=10000, uplink_poll_interval_s=1.5,
                       uplink_lost_grace_s=120.0, outages=[{"kind": "failure", "start": dt.date(2026, 3, 2),
                                                            "end": dt.date(2026, 3, 3)},
                                                           {"kind": "TOTAL_FAILURE", "start": "2026-04-01"}])
    raw["printer"]["reprint_on_accept"] = True
    raw["backup"] = {"dir": "backups", "interval_s": 600, "passphrase_file": "backup-pass"}
    cfg = parse_config(raw, base_dir=tmp_path)
    up = cfg.ksef.uplink_config()
    assert (up.batch_threshold, up.batch_invoices_max, up.poll_interval_s, up.lost_grace_s) == (50, 10000, 1.5, 120.0)
    kinds = [(o.kind, o.start, o.end) for o in cfg.ksef.outage_overrides()]
    assert kinds == [("FAILURE", dt.date(2026, 3, 2), dt.date(2026, 3, 3)), ("TOTAL_FAILURE", dt.date(2026, 4, 1), None)]
    assert cfg.reprint_on_accept is True and isinstance(cfg.printer, PrinterConfig)
    assert isinstance(cfg.backup, BackupConfig)
    assert cfg.backup.dir == tmp_path / "backups" and cfg.backup.passphrase_file == tmp_path / "backup-pass"
    raw.pop("backup")
    raw["printer"].pop("reprint_on_accept")
    cfg = parse_config(raw, base_dir=tmp_path)
    assert cfg.backup is None and cfg.reprint_on_accept is False
    assert cfg.ksef.uplink_config().batch_invoices_max == 10000  # big batches by default
