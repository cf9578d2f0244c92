"""Prometheus metrics. Each role owns a registry (no module globals); the worker's counters
are read from its stats at scrape time, so the hot path pays nothing for them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from paysys.worker import Worker

REGISTRY = web.AppKey("registry", CollectorRegistry)
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


class WorkerMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.receive_latency = Histogram(
            "paysys_worker_receive_duration_seconds",
            "SQS ReceiveMessage latency, long poll included.",
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20),
            registry=registry,
        )
        self.batch_size = Histogram(
            "paysys_worker_batch_size",
            "Messages per non-empty receive.",
            buckets=(1, 2, 3, 4, 5, 6, 7, 8, 9, 10),
            registry=registry,
        )

    def watch(self, worker: Worker) -> None:
        self.registry.register(_WorkerStatsCollector(worker))


class _WorkerStatsCollector(Collector):
    def __init__(self, worker: Worker) -> None:
        self._worker = worker

    def collect(self) -> Iterator[Metric]:
        stats = self._worker.stats
        for name, doc, value in (
            ("received", "Messages received.", stats.received),
            ("approved", "Payments approved.", stats.approved),
            ("duplicates", "Duplicate deliveries acknowledged.", stats.duplicates),
            ("failed", "Messages that failed and were left for redelivery.", stats.failed),
            ("malformed", "Messages whose body is not a PaymentCreated event.", stats.malformed),
            ("deleted", "Messages deleted after success.", stats.deleted),
            ("released", "Messages handed back on stop.", stats.released),
            ("visibility_extended", "Visibility extensions by the heartbeat.", stats.extended),
        ):
            yield CounterMetricFamily(f"paysys_worker_messages_{name}", doc, value=value)
        yield GaugeMetricFamily(
            "paysys_worker_in_flight", "Messages being processed.", value=stats.in_flight
        )
        yield GaugeMetricFamily(
            "paysys_worker_loops", "Receive loops running.", value=self._worker.running_loops
        )


async def metrics_handler(request: web.Request) -> web.Response:
    body = generate_latest(request.app[REGISTRY])
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
