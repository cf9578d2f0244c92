"""The batching SNS publisher on the real emulator: calls counted through botocore's own
event hooks, every event delivered to the subscribed queue."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from typing import Any

from paysys.core.domain import NewPayment, Payment, PaymentCreated, utcnow
from paysys.runtime.resources import Resources

NEW = NewPayment(Decimal("1.00"), "BRL", "")


def _count_publish_batches(resources: Resources) -> list[int]:
    sizes: list[int] = []

    def on_call(params: dict[str, Any], **_: Any) -> None:
        sizes.append(len(params["PublishBatchRequestEntries"]))

    resources.clients.sns.meta.events.register("before-parameter-build.sns.PublishBatch", on_call)
    return sizes


async def test_a_burst_rides_full_batches_and_the_rest_waits_for_the_call_in_flight(
    resources: Resources,
) -> None:
    publisher = resources.events
    sizes = _count_publish_batches(resources)
    events = [
        PaymentCreated.of(Payment.create(NEW, utcnow(), correlation_id="c")) for _ in range(30)
    ]
    await asyncio.gather(*(publisher.publish(e, f"c-{i}") for i, e in enumerate(events)))
    # The first event goes at once, alone; while it is in flight only full batches open
    # another call; the 9 left wait for the calls in flight and go together.
    assert sorted(sizes) == [1, 9, 10, 10]
    got: set[str] = set()
    for _ in range(20):
        messages = await resources.queue.receive(10, 1)
        got |= {json.loads(m.body)["payment_id"] for m in messages}
        await resources.queue.delete(messages)
        if len(got) == len(events):
            break
    assert got == {e.payment_id for e in events}


async def test_one_event_at_a_time_goes_at_once(resources: Resources) -> None:
    publisher = resources.events
    sizes = _count_publish_batches(resources)
    for i in range(3):
        await publisher.publish(
            PaymentCreated.of(Payment.create(NEW, utcnow(), correlation_id="c")), f"c-{i}"
        )
    assert sizes == [1, 1, 1]  # no timer: an idle publisher never holds an event back
