"""The API's Prometheus metrics, on a registry the app owns (no module globals)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from paysys.observability.call_metrics import AwsCallCollector, CallCounts

_LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25)


class PublisherStats(Protocol):
    @property
    def shed(self) -> int: ...
    @property
    def failed(self) -> int: ...


class ApiMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.requests = Counter(
            "paysys_http_requests",
            "HTTP requests by route, method and status.",
            ("route", "method", "status"),
            registry=registry,
        )
        self.latency = Histogram(
            "paysys_http_request_duration_seconds",
            "HTTP request latency by route.",
            ("route",),
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )
        self.created = Counter(
            "paysys_payments_created", "Payments accepted (202, not replays).", registry=registry
        )

    def watch_publisher(self, publisher: PublisherStats) -> None:
        """Export the publisher's counts, read at scrape time."""
        self.registry.register(_PublisherCollector(publisher))

    def watch_calls(self, counts: CallCounts) -> None:
        """Export the process's AWS calls by operation, read at scrape time."""
        self.registry.register(AwsCallCollector(counts))


class _PublisherCollector(Collector):
    def __init__(self, publisher: PublisherStats) -> None:
        self._publisher = publisher

    def collect(self) -> Iterator[Metric]:
        yield CounterMetricFamily(
            "paysys_events_shed",
            "Events not published because the publish backlog was full (left to the reconciler).",
            value=self._publisher.shed,
        )
        yield CounterMetricFamily(
            "paysys_events_publish_failed",
            "Event publishes that failed after the payment was stored (left to the reconciler).",
            value=self._publisher.failed,
        )
