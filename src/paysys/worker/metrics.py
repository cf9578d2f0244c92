"""The worker's Prometheus metrics, observed from outside the worker: its counters are read
from ``Worker.stats`` at scrape time, and the histograms are fed through the worker's
``ReceiveObserver`` hook, so the worker itself never imports prometheus_client."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime

from prometheus_client import CollectorRegistry, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from paysys.observability.call_metrics import AwsCallCollector, CallCounts
from paysys.worker.reconciler import Reconciler
from paysys.worker.webhook_metrics import WebhookMetrics
from paysys.worker.worker import Worker, WorkerOptions


class WorkerMetrics:
    """Implements ``ReceiveObserver``; ``watch(worker)`` exports the worker's stats."""

    def __init__(
        self,
        registry: CollectorRegistry,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.registry = registry
        self._clock = clock
        self.webhooks = WebhookMetrics(registry)  # fed by the role's webhook delivery
        self.decision_age = Histogram(
            "paysys_worker_decision_age_seconds",
            "Age of a payment when this worker decided it (created by the API -> approved or "
            "declined): the end-to-end time, queueing and retries included.",
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
            registry=registry,
        )
        self.max_in_flight = Gauge(
            "paysys_worker_max_in_flight",
            "The bound on messages in flight (PAYSYS_WORKER_MAX_IN_FLIGHT).",
            registry=registry,
        )
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

        self.queue_visible = Gauge(
            "paysys_queue_messages_visible",
            "Messages waiting in the queue (queue=main|dlq), read every metrics interval.",
            ("queue",),
            registry=registry,
        )
        self.queue_in_flight = Gauge(
            "paysys_queue_messages_in_flight",
            "Messages received and not yet deleted (queue=main|dlq).",
            ("queue",),
            registry=registry,
        )

    def queue_depth(self, queue: str, visible: int, in_flight: int) -> None:
        self.queue_visible.labels(queue).set(visible)
        self.queue_in_flight.labels(queue).set(in_flight)

    def received(self, seconds: float, count: int) -> None:
        self.receive_latency.observe(seconds)
        if count:
            self.batch_size.observe(count)

    def decided(self, created_at: datetime) -> None:
        self.decision_age.observe(max(0.0, (self._clock() - created_at).total_seconds()))

    def watch(self, worker: Worker, options: WorkerOptions) -> None:
        self.registry.register(_WorkerStatsCollector(worker))
        self.max_in_flight.set(options.max_in_flight)

    def watch_reconciler(self, reconciler: Reconciler) -> None:
        self.registry.register(_ReconcilerCollector(reconciler))

    def watch_calls(self, counts: CallCounts) -> None:
        """Export the process's AWS calls by operation, read at scrape time."""
        self.registry.register(AwsCallCollector(counts))


class _WorkerStatsCollector(Collector):
    def __init__(self, worker: Worker) -> None:
        self._worker = worker

    def collect(self) -> Iterator[Metric]:
        stats = self._worker.stats
        for name, doc, value in (
            ("received", "Messages received.", stats.received),
            ("approved", "Payments approved.", stats.approved),
            ("declined", "Payments declined by a rule.", stats.declined),
            ("duplicates", "Duplicate deliveries acknowledged.", stats.duplicates),
            ("failed", "Messages that failed and were left for redelivery.", stats.failed),
            ("malformed", "Messages whose body is not a PaymentCreated event.", stats.malformed),
            ("deleted", "Messages deleted after success.", stats.deleted),
            ("released", "Messages handed back on stop.", stats.released),
            ("retried", "Decisions retried after a backend failure.", stats.retried),
            ("visibility_extended", "Visibility extensions by the heartbeat.", stats.extended),
            ("delete_failed", "Messages whose delete failed (redelivered).", stats.delete_failed),
        ):
            yield CounterMetricFamily(f"paysys_worker_messages_{name}", doc, value=value)
        yield GaugeMetricFamily(
            "paysys_worker_in_flight", "Messages being processed.", value=stats.in_flight
        )
        yield GaugeMetricFamily(
            "paysys_worker_loops", "Receive loops running.", value=self._worker.running_loops
        )
        yield GaugeMetricFamily(
            "paysys_worker_active_loops",
            "Receive loops taking turns to receive (the others are parked).",
            value=self._worker.pacing.active,
        )
        yield GaugeMetricFamily(
            "paysys_worker_delete_pending",
            "Messages processed and acknowledged, waiting for their delete.",
            value=self._worker.delete_pending,
        )


class _ReconcilerCollector(Collector):
    def __init__(self, reconciler: Reconciler) -> None:
        self._reconciler = reconciler

    def collect(self) -> Iterator[Metric]:
        stats = self._reconciler.stats
        yield CounterMetricFamily(
            "paysys_reconciler_republished",
            "Events republished by the reconciler.",
            value=stats.republished,
        )
        yield CounterMetricFamily(
            "paysys_reconciler_passes", "Reconciler passes.", value=stats.passes
        )
        yield CounterMetricFamily(
            "paysys_reconciler_failures",
            "Reconciler passes or publishes that failed.",
            value=stats.failures,
        )
        yield GaugeMetricFamily(
            "paysys_oldest_pending_age_seconds",
            "Age of the oldest payment this worker's reconciler found still pending past its "
            "window in its last pass (0: none).",
            value=stats.oldest_overdue_seconds,
        )
