"""Routing outcomes past the webhook queue: marked only when the merchant's endpoints are known
and none wants the event; unknown (the lookup failed) goes to the queue as before."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from decimal import Decimal

from paysys.core.domain import PaymentCreated, PaymentStatus
from paysys.core.outcomes import NO_WEBHOOK_ENDPOINT, PaymentOutcome
from paysys.core.webhook_routing import WebhookRouting
from paysys.core.webhooks import WebhookEndpoint
from paysys.errors import BackendUnavailable

from ..fakes.clock import FakeClock
from ..fakes.sns import FakeTopic
from ..fakes.sqs import FakeQueue

AT = datetime(2026, 1, 1, tzinfo=UTC)
APPROVALS = WebhookEndpoint("we_1", "alice", "https://a.example/h", ("PaymentApproved",), "s", AT)


class Lookup:
    def __init__(self) -> None:
        self.asked: list[str] = []

    async def cached(self, merchant_id: str) -> list[WebhookEndpoint]:
        self.asked.append(merchant_id)
        if merchant_id == "down":
            raise BackendUnavailable("DynamoDB GetItem failed: timeout")
        return [APPROVALS] if merchant_id == "alice" else []


def outcome(payment_id: str, merchant: str, status: PaymentStatus) -> PaymentOutcome:
    return PaymentOutcome(payment_id, merchant, Decimal(1), "BRL", status, None, AT, AT)


async def test_outcomes_are_marked_only_when_no_endpoint_wants_them() -> None:
    queue = FakeQueue(FakeClock())
    lookup = Lookup()
    topic = FakeTopic(queue)
    routing = WebhookRouting(topic, lookup)
    approved, canceled = PaymentStatus.APPROVED, PaymentStatus.CANCELED
    await routing.publish(outcome("p1", "alice", approved), "c")  # wanted
    await routing.publish(outcome("p2", "alice", canceled), "c")  # not this type
    await routing.publish(outcome("p3", "bob", approved), "c")  # no endpoint
    await routing.submit(outcome("p4", "down", approved), "c")  # unknown
    marks = {o.payment_id: o.webhook_endpoint for o in topic.published}
    assert marks == {"p1": True, "p2": False, "p3": False, "p4": None}
    routed = [m.attributes.get(NO_WEBHOOK_ENDPOINT) for m in await queue.receive(10, 0)]
    assert routed == [None, "true", "true", None]
    assert lookup.asked == ["alice", "alice", "bob", "down"]


async def test_other_events_and_known_marks_pass_without_a_lookup() -> None:
    lookup = Lookup()
    routing = WebhookRouting(FakeTopic(FakeQueue(FakeClock())), lookup)
    created = PaymentCreated("p", Decimal(1), "BRL", AT, "bob")
    known = dataclasses.replace(outcome("p", "bob", PaymentStatus.APPROVED), webhook_endpoint=True)
    assert await routing.route(created) is created
    assert await routing.route(known) is known
    assert created.routing_attributes() == {}
    assert lookup.asked == []
