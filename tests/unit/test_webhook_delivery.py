"""The delivery loops on a fake queue, without a signing key: the common case (a merchant
without endpoints) still drains, and a merchant with one is kept on its retry schedule."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from paysys.adapters.webhook_http import Attempt
from paysys.core.webhooks import WebhookEndpoint
from paysys.worker.webhook_guard import EndpointGuard
from paysys.worker.webhooks import DeliveryOptions, WebhookDeliverer

from ..fakes.clock import FakeClock
from ..fakes.sqs import FakeQueue

ENDPOINT = WebhookEndpoint(
    "we_1", "alice", "https://shop.example/h", ("PaymentApproved",), "salt",
    datetime(2026, 1, 1, tzinfo=UTC),
)  # fmt: skip


class Endpoints:
    async def cached(self, merchant_id: str) -> list[WebhookEndpoint]:
        return [ENDPOINT] if merchant_id == "alice" else []


class NeverCalled:
    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> Attempt:
        raise AssertionError("nothing is sent without a key")


def event(merchant: str) -> str:
    return json.dumps({"type": "PaymentApproved", "payment_id": "p", "merchant_id": merchant})


async def test_without_a_key_events_drain_and_endpoints_wait_for_one() -> None:
    clock = FakeClock()
    queue = FakeQueue(clock)
    queue.deliver(event("bob"), {})
    queue.deliver(event("alice"), {})
    guard = EndpointGuard(concurrency=1, failures=5, open_seconds=60)
    options = DeliveryOptions(key=None, loops=1, wait_seconds=0)
    deliverer = WebhookDeliverer(
        queue, Endpoints(), NeverCalled(), guard, options, clock=clock.time
    )
    results = await deliverer.run(burst=True)
    assert results == {"no_endpoint": 1, "retry": 1}
    assert await queue.depth() == (0, 1)  # alice's event hidden until its next attempt
