"""The batching SNS publisher on the real emulator: calls counted through botocore's own
event hooks, every event delivered to the subscribed queue."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from typing import Any

import structlog

from paysys.adapters.sns import ArrivalGap, SnsPublisher
from paysys.core.domain import NewPayment, Payment, PaymentCreated, utcnow
from paysys.runtime.resources import Resources

from ..conftest import LogSink

NEW = NewPayment(Decimal("1.00"), "BRL", "")


def _count_publish_batches(resources: Resources) -> list[int]:
    sizes: list[int] = []

    def on_call(params: dict[str, Any], **_: Any) -> None:
        sizes.append(len(params["PublishBatchRequestEntries"]))

    resources.clients.sns.meta.events.register("before-parameter-build.sns.PublishBatch", on_call)
    return sizes


def publisher_of(resources: Resources, linger_seconds: float) -> SnsPublisher:
    return SnsPublisher(
        resources.clients.sns, resources.events.topic_arn, linger_seconds=linger_seconds
    )


def created(count: int) -> list[PaymentCreated]:
    return [
        PaymentCreated.of(Payment.create(NEW, utcnow(), correlation_id="c")) for _ in range(count)
    ]


async def delivered(resources: Resources, count: int) -> set[str]:
    got: set[str] = set()
    for _ in range(20):
        messages = await resources.queue.receive(10, 1)
        got |= {json.loads(m.body)["payment_id"] for m in messages}
        await resources.queue.delete(messages)
        if len(got) == count:
            break
    return got


async def test_a_burst_rides_full_batches_and_the_rest_waits_for_the_call_in_flight(
    resources: Resources,
) -> None:
    publisher = publisher_of(resources, linger_seconds=0)
    sizes = _count_publish_batches(resources)
    events = created(30)
    await asyncio.gather(*(publisher.publish(e, f"c-{i}") for i, e in enumerate(events)))
    # No linger: the first event goes at once, alone; while it is in flight only full
    # batches open another call; the 9 left wait for the calls in flight and go together.
    assert sorted(sizes) == [1, 9, 10, 10]
    assert await delivered(resources, 30) == {e.payment_id for e in events}


async def test_with_a_linger_a_burst_goes_in_full_batches(resources: Resources) -> None:
    publisher = publisher_of(resources, linger_seconds=0.05)
    sizes = _count_publish_batches(resources)
    events = created(30)
    await asyncio.gather(*(publisher.publish(e, f"c-{i}") for i, e in enumerate(events)))
    assert sizes == [10, 10, 10]


async def test_submitted_events_share_a_call_and_close_sends_what_lingers(
    resources: Resources,
) -> None:
    publisher = publisher_of(resources, linger_seconds=3600)  # only close() can send them
    sizes = _count_publish_batches(resources)
    events = created(3)
    for e in events:
        await publisher.submit(e, "c")  # returns at once: nothing sent yet
    assert sizes == []
    await publisher.close()
    assert sizes == [3]
    assert await delivered(resources, 3) == {e.payment_id for e in events}


async def test_one_event_at_a_time_goes_at_once_without_a_linger(resources: Resources) -> None:
    publisher = publisher_of(resources, linger_seconds=0)
    sizes = _count_publish_batches(resources)
    for i, e in enumerate(created(3)):
        await publisher.publish(e, f"c-{i}")
    assert sizes == [1, 1, 1]  # no timer: an idle publisher never holds an event back


async def test_at_thin_traffic_an_event_does_not_wait_for_the_linger(
    resources: Resources,
) -> None:
    # A linger only close() could end, on a publisher that has seen events come four lingers
    # apart: each publish returns with its own call instead of waiting an hour.
    publisher = SnsPublisher(
        resources.clients.sns,
        resources.events.topic_arn,
        linger_seconds=3600,
        arrivals=ArrivalGap(average=4 * 3600),
    )
    sizes = _count_publish_batches(resources)
    events = created(2)
    async with asyncio.timeout(30):  # a hang guard: a lingering event would wait 3600 s
        for i, e in enumerate(events):
            await publisher.publish(e, f"c-{i}")
    assert sizes == [1, 1]
    assert await delivered(resources, 2) == {e.payment_id for e in events}


async def test_a_submitted_event_that_fails_is_logged_with_its_payment(
    resources: Resources, logs: LogSink
) -> None:
    missing = resources.events.topic_arn + "-missing"
    publisher = SnsPublisher(resources.clients.sns, missing, linger_seconds=0)
    [event] = created(1)
    with structlog.contextvars.bound_contextvars(payment_id=event.payment_id):
        await publisher.submit(event, "c")
    await publisher.close()
    [deferred] = logs.events("payment.publish_deferred")
    assert deferred["payment_id"] == event.payment_id  # the submitter's log context
    assert publisher.failed == 1
