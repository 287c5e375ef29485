"""The receipt printer at /metrics: is it working, how far behind, how many receipts it failed.

Read from the live `PrintQueue` at each scrape (a custom collector), so nothing has to remember to
update a gauge when the printer state changes; the counters live in the queue and reset with the
daemon, which Prometheus' `increase()`/`rate()` handle.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric


@dataclass
class PrintTally:
    """Counts kept by `PrintQueue` for monitoring (since the daemon started)."""

    printed: int = 0           # receipts the printer took
    failed_attempts: int = 0   # sends the printer refused (off, no paper, unplugged); each is retried


class PrinterCollector:
    """`ksef_edge_printer_up`, `ksef_edge_printer_failed_attempts_total`, `ksef_edge_receipts_printed_total`.

    Receipts waiting, receipts given up (`ksef_edge_receipts_failed_total`) and the printer's reported
    conditions are `printing.printer_watch.PrinterWatch`'s metrics; this adds what it does not count.
    """

    def __init__(self, queue: object) -> None:
        self._queue = queue  # printing.print_queue.PrintQueue (duck-typed: printer_error, depth, tally)

    def collect(self) -> Iterator[Metric]:
        q = self._queue
        error = getattr(q, "printer_error", None)
        tally: PrintTally = getattr(q, "tally", PrintTally())
        up = GaugeMetricFamily("ksef_edge_printer_up", "1 when the receipt printer works, 0 while it reports a fault")
        up.add_metric([], 0.0 if error else 1.0)
        yield up
        attempts = CounterMetricFamily("ksef_edge_printer_failed_attempts",
                                       "Sends the printer refused (off, out of paper, unplugged); retried")
        attempts.add_metric([], float(tally.failed_attempts))
        yield attempts
        printed = CounterMetricFamily("ksef_edge_receipts_printed", "Receipts the printer took")
        printed.add_metric([], float(tally.printed))
        yield printed
