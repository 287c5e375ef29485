"""What the uplink reports: a status snapshot for `/v1/status` and Prometheus metrics."""
from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge


@dataclass(frozen=True)
class DeadlineAlarm:
    """An invoice within the alarm margin of its deadline (`level` "at_risk") or past it ("overdue"),
    or rejected by KSeF ("rejected": needs a technical correction)."""

    invoice_id: int
    number: str
    level: str
    deadline: dt.date | None
    detail: str = ""


@dataclass(frozen=True)
class UplinkStatus:
    running: bool
    queue: dict[str, int]                 # invoices per state (issued, sending, accepted, confirmed, rejected)
    oldest_deadline: dt.date | None       # earliest effective deadline among invoices not yet in KSeF
    last_success: dt.datetime | None
    last_error: str | None
    last_error_at: dt.datetime | None
    sends_per_s: float                    # invoices handed to KSeF per second over the last minute
    mode: str                             # idle | online | batch | backoff
    ksef_availability: str                # Latarnia: AVAILABLE | MAINTENANCE | FAILURE | TOTAL_FAILURE | UNKNOWN
    alarms: tuple[DeadlineAlarm, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (dates as ISO strings)."""
        def conv(v: Any) -> Any:
            if isinstance(v, (dt.date, dt.datetime)):
                return v.isoformat()
            if isinstance(v, dict):
                return {k: conv(x) for k, x in v.items()}
            if isinstance(v, (list, tuple)):
                return [conv(x) for x in v]
            return v
        return conv(asdict(self))


class UplinkMetrics:
    """Prometheus metrics; pass the daemon's registry (tests use a private one).

    Named `ksef_edge_uplink_*` (one prefix per scrape). Invoices per state and the nearest deadline are
    the daemon's own `ksef_edge_invoices{state}` and `ksef_edge_nearest_deadline_timestamp_seconds`
    (the uplink persists the effective deadline it computes), so they are not repeated here.
    """

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.alarms = Gauge("ksef_edge_uplink_deadline_alarms", "Invoices at risk/overdue/rejected", ["level"], registry=r)
        self.sent = Counter("ksef_edge_uplink_sent_invoices", "Invoices handed to KSeF", ["path"], registry=r)
        self.accepted = Counter("ksef_edge_uplink_accepted_invoices", "Invoices KSeF accepted", registry=r)
        self.rejected = Counter("ksef_edge_uplink_rejected_invoices", "Invoices KSeF rejected", registry=r)
        self.errors = Counter("ksef_edge_uplink_errors", "Uplink errors by kind", ["kind"], registry=r)
        self.last_success = Gauge("ksef_edge_uplink_last_success_timestamp_seconds", "Last successful exchange with KSeF",
                                  registry=r)
        for level in ("at_risk", "overdue", "rejected"):
            self.alarms.labels(level=level)  # present (0) from the first scrape, so alerts see them
