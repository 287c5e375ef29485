"""Prometheus metrics, one registry per daemon (so tests can run several in one process).

Parts that keep their own registry (the KSeF uplink's `ksef.status.UplinkMetrics`) are added with
`Metrics.include(registry)`, so `/metrics` is one scrape with everything the daemon knows.
"""
from __future__ import annotations

from typing import Iterable

from prometheus_client import CONTENT_TYPE_LATEST as CONTENT_TYPE  # noqa: F401 - re-exported
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.metrics_core import Metric

from . import __version__


class _RegistryCollector:
    """Yields another registry's metrics at each scrape (their values stay owned by that registry)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._registry = registry

    def collect(self) -> Iterable[Metric]:
        return self._registry.collect()


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.issued = Counter("ksef_edge_invoices_issued", "Invoices issued and durably stored", registry=r)
        self.replayed = Counter("ksef_edge_idempotent_replays", "Requests answered from an earlier identical request", registry=r)
        self.refused = Counter("ksef_edge_issue_refused", "Issue requests refused, by error code", ["code"], registry=r)
        self.unauthorized = Counter("ksef_edge_unauthorized_requests", "Requests without a valid bearer token", registry=r)
        self.issue_seconds = Histogram(
            "ksef_edge_issue_seconds",
            "Time from request to durable commit",
            buckets=(0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
            registry=r,
        )
        self.invoices = Gauge("ksef_edge_invoices", "Stored invoices by KSeF state", ["state"], registry=r)
        self.nearest_deadline = Gauge(
            "ksef_edge_nearest_deadline_timestamp_seconds", "End of the earliest pending upload deadline (0: none)", registry=r
        )
        self.cert_not_after = Gauge("ksef_edge_certificate_not_after_timestamp_seconds", "Offline certificate expiry", registry=r)
        self.clock_synced = Gauge("ksef_edge_clock_synchronized", "1 synchronised, 0 not, -1 unknown", registry=r)
        self.corrections_waiting = Gauge(
            "ksef_edge_corrections_waiting", "Correction invoices held back until their original has a KSeF number", registry=r
        )
        self.corrections_at_risk = Gauge(
            "ksef_edge_corrections_at_risk", "Waiting corrections whose original is late/rejected or own deadline is due",
            registry=r,
        )
        self.can_issue = Gauge("ksef_edge_can_issue", "1 when the daemon can issue invoices", registry=r)
        info = Gauge("ksef_edge_build_info", "Version of the running daemon", ["version"], registry=r)
        info.labels(version=__version__).set(1)

    def include(self, registry: CollectorRegistry) -> None:
        """Serve `registry`'s metrics at /metrics too (its names must not clash with `ksef_edge_*`)."""
        if registry is not self.registry:
            self.registry.register(_RegistryCollector(registry))

    def render(self) -> bytes:
        return generate_latest(self.registry)
