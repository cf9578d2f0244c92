"""Webhook delivery's metrics on a fake queue and clock: results by label (zeros from the
start), attempt latency, and the oldest undelivered age of what this pod put off."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from prometheus_client import CollectorRegistry

from paysys.adapters.webhook_http import Attempt
from paysys.core.ports import QueueMessage
from paysys.core.webhooks import WebhookEndpoint
from paysys.worker.webhook_backlog import Backlog, BacklogQueue
from paysys.worker.webhook_guard import EndpointGuard
from paysys.worker.webhook_metrics import RESULTS, WebhookMetrics
from paysys.worker.webhooks import DeliveryOptions, WebhookDeliverer

from ..fakes.clock import FakeClock
from ..fakes.sqs import FakeQueue

ENDPOINT = WebhookEndpoint(
    "we_1", "alice", "https://shop.example/h", ("PaymentApproved",), "salt",
    datetime(2026, 1, 1, tzinfo=UTC),
)  # fmt: skip
AGE = "paysys_webhook_oldest_undelivered_age_seconds"


class Endpoints:
    async def cached(self, merchant_id: str) -> list[WebhookEndpoint]:
        return [ENDPOINT] if merchant_id == "alice" else []


class Answers:
    """An endpoint answering ``statuses`` in turn, each attempt taking 0.3 s."""

    def __init__(self, *statuses: int) -> None:
        self._statuses = list(statuses)

    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> Attempt:
        return Attempt(self._statuses.pop(0), 0.3)


def event(merchant: str) -> str:
    return json.dumps({"type": "PaymentApproved", "payment_id": "p", "merchant_id": merchant})


def results(registry: CollectorRegistry) -> dict[str, float]:
    return {
        r: registry.get_sample_value("paysys_webhook_deliveries_total", {"result": r}) or 0.0
        for r in RESULTS
    }


async def test_a_retried_delivery_is_undelivered_until_it_is_delivered() -> None:
    clock = FakeClock()
    queue = FakeQueue(clock)
    registry = CollectorRegistry()
    metrics = WebhookMetrics(registry)
    assert set(results(registry)) == set(RESULTS)  # every result exported, at 0
    assert registry.get_sample_value(AGE) == 0

    queue.deliver(event("alice"), {})
    queue.deliver(event("bob"), {})
    clock.advance(30)  # the events waited on the queue
    backlog = Backlog(clock.time)
    deliverer = WebhookDeliverer(
        BacklogQueue(queue, backlog),
        Endpoints(),
        metrics.timed(Answers(500, 200)),
        EndpointGuard(concurrency=1, failures=5, open_seconds=60),
        DeliveryOptions(key="k", loops=1, wait_seconds=0),
        clock=clock.time,
    )
    metrics.watch(deliverer, backlog)
    await deliverer.run(burst=True)
    found = results(registry)
    assert (found["retry"], found["no_endpoint"], found["delivered"]) == (1, 1, 0)
    assert registry.get_sample_value(AGE) == 30  # alice's, sent 30 s ago
    assert registry.get_sample_value("paysys_webhook_undelivered") == 1

    clock.advance(60)  # past the first retry's delay (60 s at most)
    assert registry.get_sample_value(AGE) == 90
    await deliverer.run(burst=True)
    assert results(registry)["delivered"] == 1
    assert registry.get_sample_value(AGE) == 0
    assert registry.get_sample_value("paysys_webhook_undelivered") == 0
    latency = "paysys_webhook_attempt_duration_seconds"
    assert registry.get_sample_value(f"{latency}_count") == 2
    assert registry.get_sample_value(f"{latency}_sum") == 0.6


def message(message_id: str, sent_at: float) -> QueueMessage:
    return QueueMessage(message_id, "h", "{}", 1, None, sent_at_ms=int(sent_at * 1000))


def test_a_message_long_past_its_next_attempt_is_dropped() -> None:
    """Another pod received it when it came back: this pod no longer knows its fate."""
    clock = FakeClock()
    backlog = Backlog(clock.time, grace_seconds=300)
    backlog.put_off([message("m1", clock.time() - 10)], 60)
    clock.advance(60 + 300)
    assert backlog.oldest_age() == 370
    clock.advance(1)
    assert backlog.oldest_age() == 0
    assert len(backlog) == 0


def test_past_its_capacity_the_backlog_tracks_no_new_message_but_updates_known_ones() -> None:
    clock = FakeClock()
    backlog = Backlog(clock.time, capacity=1)
    first, second = message("m1", clock.time() - 5), message("m2", clock.time() - 50)
    backlog.put_off([first, second], 60)
    assert (len(backlog), backlog.oldest_age()) == (1, 5)
    clock.advance(70)
    backlog.put_off([first], 120)  # its next attempt failed too: kept past the first due time
    clock.advance(300)
    assert backlog.oldest_age() == 375
    backlog.done([first])
    assert backlog.oldest_age() == 0
