"""The uplink's settings (`[ksef]` tuning in the device config builds one: `config.KsefConfig.uplink_config`)."""
from __future__ import annotations

from dataclasses import dataclass

from .batch import BATCH_INVOICES_MAX


@dataclass(frozen=True)
class UplinkConfig:
    batch_threshold: int = 30            # queue length from which a batch session is used
    batch_invoices_max: int = BATCH_INVOICES_MAX  # per batch session: KSeF allows 10 000 (one list_for_upload page)
    online_idle_close_s: float = 60.0
    online_session_invoices_max: int = 1000
    online_session_age_max_s: float = 3600.0
    online_sends_per_step: int = 10
    poll_interval_s: float = 2.0         # between status queries of one session
    idle_wait_s: float = 10.0            # nothing to do: wait this long or until notify()
    lost_grace_s: float = 90.0           # > client timeout: a lost request cannot land after this
    upload_attempts: int = 4             # per batch part
    alarm_margin_s: float = 6 * 3600.0   # less than this left until the end of the deadline day -> "at_risk"
    backoff_base_s: float = 1.0
    backoff_max_s: float = 300.0
    latarnia_interval_s: float = 300.0
    rate_limits_interval_s: float = 3600.0
    status_interval_s: float = 5.0
    offline_mode: bool = True            # every invoice this till issues is an offline invoice

    def __post_init__(self) -> None:
        if not 1 <= self.batch_invoices_max <= BATCH_INVOICES_MAX:
            raise ValueError(f"uplink.batch_invoices_max must be 1..{BATCH_INVOICES_MAX} (KSeF's batch session limit)")
        if not 1 <= self.batch_threshold <= self.batch_invoices_max:
            raise ValueError("uplink.batch_threshold must be between 1 and batch_invoices_max")
        if self.lost_grace_s <= 0 or self.poll_interval_s <= 0:
            raise ValueError("uplink.lost_grace_s and uplink.poll_interval_s must be > 0")
