"""`[ksef]` of the device config: which KSeF, which context, the uplink's tuning, announced outages.

Read by `config.parse_config` (which builds the dataclass from the TOML table) and checked here as a
whole (`finish_ksef`); `uplink_config()` and `outage_overrides()` hand the uplink its own types.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import enum
from dataclasses import dataclass
from typing import Any, Mapping

from ..config_error import ConfigError
from .availability import Outage
from .uplink_config import UplinkConfig


class KsefEnvironment(str, enum.Enum):
    TEST = "test"
    DEMO = "demo"
    PROD = "prod"
    SIMULATOR = "simulator"


# Official API bases (protocol.md §1); the simulator has none: `api_base_url` is required for it.
KSEF_API_BASES = {
    KsefEnvironment.TEST: "https://api-test.ksef.mf.gov.pl/v2",
    KsefEnvironment.DEMO: "https://api-demo.ksef.mf.gov.pl/v2",
    KsefEnvironment.PROD: "https://api.ksef.mf.gov.pl/v2",
}
QR_ENV_FOR = {
    KsefEnvironment.TEST: "test",
    KsefEnvironment.DEMO: "demo",
    KsefEnvironment.PROD: "prd",
    KsefEnvironment.SIMULATOR: "test",
}
OFFLINE_MODES = ("offline24", "offline", "failure", "total_failure")
CONTEXT_TYPES = ("Nip", "InternalId", "NipVatUe", "PeppolId")
UPLINK_POLICIES = ("auto", "off")
OUTAGE_KINDS = ("FAILURE", "TOTAL_FAILURE", "MAINTENANCE")


@dataclass(frozen=True)
class OutageOverride:
    """An outage announced by the Ministry that this device should count even if Latarnia does not
    show it (`[[ksef.outages]]`): it moves upload deadlines like a Latarnia announcement."""

    kind: str  # FAILURE | TOTAL_FAILURE | MAINTENANCE
    start: dt.date
    end: dt.date | None = None  # None: still ongoing


@dataclass(frozen=True)
class KsefConfig:
    environment: KsefEnvironment = KsefEnvironment.TEST
    api_base_url: str = ""
    qr_environment: str = "test"  # test | demo | prd (domain.qr.QrEnvironment value)
    context_type: str = "Nip"
    context_value: str = ""
    offline_mode: str = "offline24"
    uplink: str = "auto"
    uplink_idle_s: float = 10.0  # nothing queued: check again after this long (or at once on a new invoice)
    # tuning of ksef.uplink.UplinkConfig (docs/uplink.md)
    uplink_batch_threshold: int = 30  # queue length from which batch sessions are used
    uplink_batch_invoices_max: int = 10_000  # invoices per batch session (KSeF allows 10 000)
    uplink_poll_interval_s: float = 2.0  # between status queries of one session
    uplink_lost_grace_s: float = 90.0  # a 'sending' invoice KSeF does not list goes back to the queue after this
    uplink_online_idle_close_s: float = 60.0  # close the online session after this long without sends
    uplink_alarm_margin_s: float = 21600.0  # "at_risk" alarm when less than this remains of the deadline day
    uplink_latarnia_interval_s: float = 300.0  # how often Latarnia (KSeF availability) is read
    uplink_timeout_s: float = 30.0  # one HTTP request to KSeF
    outages: tuple[OutageOverride, ...] = ()  # [[ksef.outages]]: announced outages Latarnia may not show

    def uplink_config(self) -> UplinkConfig:
        """The `ksef.uplink_config.UplinkConfig` these settings describe."""
        return UplinkConfig(
            batch_threshold=self.uplink_batch_threshold,
            batch_invoices_max=self.uplink_batch_invoices_max,
            poll_interval_s=self.uplink_poll_interval_s,
            idle_wait_s=self.uplink_idle_s,
            lost_grace_s=self.uplink_lost_grace_s,
            online_idle_close_s=self.uplink_online_idle_close_s,
            alarm_margin_s=self.uplink_alarm_margin_s,
            latarnia_interval_s=self.uplink_latarnia_interval_s,
        )

    def outage_overrides(self) -> tuple[Outage, ...]:
        """`[[ksef.outages]]` as `ksef.availability.Outage`s."""
        return tuple(Outage(o.kind, o.start, o.end, "config") for o in self.outages)


def finish_ksef(ksef: KsefConfig, raw: Mapping[str, Any], seller_nip: str) -> KsefConfig:
    """Check the `[ksef]` table as a whole and fill in what follows from the environment and the seller."""
    base = ksef.api_base_url or KSEF_API_BASES.get(ksef.environment, "")
    if not base:
        raise ConfigError("ksef.api_base_url", "required when environment = \"simulator\" (e.g. http://127.0.0.1:8900/v2)")
    if not base.startswith(("https://", "http://")):
        raise ConfigError("ksef.api_base_url", "must start with https:// (or http:// for a local simulator)")
    qr = str(raw.get("qr_environment", QR_ENV_FOR[ksef.environment])).lower()
    if qr not in ("test", "demo", "prd"):
        raise ConfigError("ksef.qr_environment", "must be \"test\", \"demo\" or \"prd\" (the QR verification host)")
    if ksef.context_type not in CONTEXT_TYPES:
        raise ConfigError("ksef.context_type", f"must be one of {', '.join(CONTEXT_TYPES)}")
    if ksef.offline_mode not in OFFLINE_MODES:
        raise ConfigError("ksef.offline_mode", f"must be one of {', '.join(OFFLINE_MODES)}")
    if ksef.uplink not in UPLINK_POLICIES:
        raise ConfigError("ksef.uplink", "must be \"auto\" (upload in the background) or \"off\"")
    if not 0 < ksef.uplink_idle_s <= 3600:
        raise ConfigError("ksef.uplink_idle_s", "must be between 0 and 3600 seconds")
    for name, low, high in (("uplink_poll_interval_s", 0.1, 600), ("uplink_lost_grace_s", 1, 86400),
                            ("uplink_online_idle_close_s", 1, 3600), ("uplink_alarm_margin_s", 0, 7 * 86400),
                            ("uplink_latarnia_interval_s", 10, 86400), ("uplink_timeout_s", 1, 600)):
        if not low <= getattr(ksef, name) <= high:
            raise ConfigError(f"ksef.{name}", f"must be between {low} and {high} seconds")
    if ksef.uplink_lost_grace_s <= ksef.uplink_timeout_s:
        raise ConfigError("ksef.uplink_lost_grace_s",
                          "must be longer than uplink_timeout_s, or a request still in flight could be sent twice")
    if not 1 <= ksef.uplink_batch_invoices_max <= 10_000:
        raise ConfigError("ksef.uplink_batch_invoices_max", "must be 1..10000 (KSeF's limit per batch session)")
    if not 1 <= ksef.uplink_batch_threshold <= ksef.uplink_batch_invoices_max:
        raise ConfigError("ksef.uplink_batch_threshold", "must be between 1 and uplink_batch_invoices_max")
    return dataclasses.replace(
        ksef, api_base_url=base.rstrip("/"), qr_environment=qr, context_value=ksef.context_value or seller_nip
    )


def parse_outages(value: Any) -> tuple[OutageOverride, ...]:
    """`[[ksef.outages]]` tables: kind, start (date), optional end (date)."""
    if not isinstance(value, list):
        raise ConfigError("ksef.outages", "must be a list of tables: [[ksef.outages]] kind = \"FAILURE\" start = 2026-03-02")
    out = []
    for i, item in enumerate(value):
        key = f"ksef.outages[{i}]"
        if not isinstance(item, dict):
            raise ConfigError(key, "must be a table with kind, start and (optionally) end")
        unknown = set(item) - {"kind", "start", "end"}
        if unknown:
            raise ConfigError(f"{key}.{sorted(unknown)[0]}", "unknown key; known keys: kind, start, end")
        kind = str(item.get("kind", "")).upper()
        if kind not in OUTAGE_KINDS:
            raise ConfigError(f"{key}.kind", f"must be one of {', '.join(OUTAGE_KINDS)} (as announced by the Ministry)")
        start = _date(item.get("start"), f"{key}.start")
        end = _date(item["end"], f"{key}.end") if item.get("end") is not None else None
        if start is None:
            raise ConfigError(f"{key}.start", "missing: the first day of the outage, e.g. start = 2026-03-02")
        if end is not None and end < start:
            raise ConfigError(f"{key}.end", f"{end} is before start {start}")
        out.append(OutageOverride(kind, start, end))
    return tuple(out)


def _date(value: Any, key: str) -> dt.date | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise ConfigError(key, f"{value!r} is not a date; write it as 2026-03-02") from None
