"""Webhook delivery's Prometheus metrics, on the worker's /metrics.

Observed from outside the deliverer, like the payment worker's: results are read from
``WebhookDeliverer.results`` at scrape time, attempts are timed by wrapping its sender, and
the oldest undelivered age comes from the ``Backlog`` its queue feeds
(``paysys.worker.webhook_backlog``)."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from paysys.adapters.webhook_http import Attempt
from paysys.worker.webhook_backlog import Backlog
from paysys.worker.webhooks import Sender, WebhookDeliverer

# Every result ``WebhookDeliverer`` counts, exported at 0 from the start (a rate over a
# series that appears only at its first increment misses that increment).
RESULTS = (
    "delivered",
    "retry",
    "failed",
    "deferred",
    "no_endpoint",
    "fanned_out",
    "ignored",
    "malformed",
    "backend_error",
    "error",
)


class WebhookMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self._collector = _DeliveryCollector()
        registry.register(self._collector)
        self.attempt_latency = Histogram(
            "paysys_webhook_attempt_duration_seconds",
            "One delivery attempt: the signed POST to the merchant's endpoint until its "
            "answer, or until it failed (connect or read timeout, refused address).",
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15, 30),
            registry=registry,
        )

    def watch(self, deliverer: WebhookDeliverer, backlog: Backlog) -> None:
        self._collector.deliverer = deliverer
        self._collector.backlog = backlog

    def timed(self, sender: Sender) -> Sender:
        return _TimedSender(sender, self.attempt_latency)


class _TimedSender:
    def __init__(self, sender: Sender, latency: Histogram) -> None:
        self._sender = sender
        self._latency = latency

    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> Attempt:
        attempt = await self._sender.post(url, body, headers)
        self._latency.observe(attempt.seconds)
        return attempt


class _DeliveryCollector(Collector):
    def __init__(self) -> None:
        self.deliverer: WebhookDeliverer | None = None
        self.backlog: Backlog | None = None

    def collect(self) -> Iterator[Metric]:
        results = self.deliverer.results if self.deliverer is not None else {}
        family = CounterMetricFamily(
            "paysys_webhook_deliveries",
            "Delivery queue messages handled, by result: delivered (2xx), retry (attempt "
            "failed, hidden until the next), failed (retry window over), deferred (endpoint at "
            "its limit or breaker open), no_endpoint, fanned_out (one copy per endpoint), "
            "ignored, malformed, backend_error, error.",
            labels=("result",),
        )
        for result in sorted({*RESULTS, *results}):
            family.add_metric((result,), results.get(result, 0))
        yield family
        backlog = self.backlog
        yield GaugeMetricFamily(
            "paysys_webhook_oldest_undelivered_age_seconds",
            "Age (since SQS's SentTimestamp) of the oldest delivery this pod put off (attempt "
            "failed and retried later, or deferred) and not yet seen delivered or failed; "
            "dropped 5 minutes past its next attempt (another pod took it). Per pod: take the "
            "max across pods. 0: none.",
            value=backlog.oldest_age() if backlog is not None else 0.0,
        )
        yield GaugeMetricFamily(
            "paysys_webhook_undelivered",
            "Deliveries this pod put off and tracks for the age above.",
            value=len(backlog) if backlog is not None else 0,
        )
