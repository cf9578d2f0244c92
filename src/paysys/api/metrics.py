"""The API's Prometheus metrics, on a registry the app owns (no module globals)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

_LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25)


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
