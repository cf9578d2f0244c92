"""Outcome events on the real emulator: the outcomes topic reaches a subscriber queue with
the documented attributes, and the outbox is cleared after a successful publish."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from paysys.adapters.sqs import SqsQueue
from paysys.core.domain import NewPayment, PaymentCreated
from paysys.core.webhooks import NewEndpoint
from paysys.ops.tail import TAIL_PREFIX, render, tail
from paysys.runtime.resources import Resources, find_queue_url, find_topic_arn

from ..conftest import until
from ..system.test_outcomes import subscriber
from .test_provision import received

NEW = NewPayment(Decimal("2.00"), "BRL", "")


async def test_cancel_and_approval_reach_an_outcomes_subscriber(resources: Resources) -> None:
    settings = resources.clients.settings
    queue = await subscriber(
        resources.clients, settings.outcomes_topic_name, f"{settings.queue_name}-sub"
    )
    service = resources.service
    canceled = await service.create(NEW, "c-1")
    approved = await service.create(NEW, "c-2")
    await service.cancel(canceled.payment_id)
    await service.decide(PaymentCreated.of(await service.get(approved.payment_id)), "c-2")
    got = []
    for _ in range(10):
        got += await queue.receive(10, 1)
        if len(got) >= 2:
            break
    events = {json.loads(m.body)["payment_id"]: m for m in got}
    assert json.loads(events[canceled.payment_id].body)["type"] == "PaymentCanceled"
    message = events[approved.payment_id]
    assert message.attributes["event_type"] == "PaymentApproved"
    assert message.attributes["correlation_id"] == "c-2"
    assert message.attributes["merchant_id"] == "default"
    later = (await service.get(approved.payment_id)).updated_at + timedelta(days=1)
    left = [
        d
        for n in range(settings.pending_shards)
        for d in await resources.payments.outbox(n, later, 10)
    ]
    assert left == []  # published, so cleared


async def test_events_tail_filters_prints_and_cleans_up(resources: Resources) -> None:
    clients = resources.clients
    stop = asyncio.Event()
    lines: list[str] = []
    task = asyncio.create_task(tail(clients, stop, ["PaymentCanceled"], "default", lines.append))
    topic_arn = await find_topic_arn(clients.sns, clients.settings.outcomes_topic_name)

    async def subscriptions() -> list[str]:
        found = await clients.sns.list_subscriptions_by_topic(TopicArn=topic_arn)
        return [s["Endpoint"] for s in found["Subscriptions"]]

    async with asyncio.timeout(10):
        while not [e for e in await subscriptions() if TAIL_PREFIX in e]:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
    service = resources.service
    approved = await service.create(NEW, "c-a")
    canceled = await service.create(NEW, "c-c")
    await service.decide(PaymentCreated.of(await service.get(approved.payment_id)))
    await service.cancel(canceled.payment_id)
    await until(lambda: bool(lines))
    stop.set()
    assert await asyncio.wait_for(task, 10) == 1  # the approval was filtered out
    [line] = lines
    assert "PaymentCanceled" in line
    assert canceled.payment_id in line
    assert not [e for e in await subscriptions() if TAIL_PREFIX in e]  # unsubscribed
    queues = await clients.sqs.list_queues(QueueNamePrefix=TAIL_PREFIX)
    assert queues.get("QueueUrls", []) == []  # queue removed
    assert render("not json").startswith("(unreadable event)")


async def test_only_outcomes_an_endpoint_wants_reach_the_webhook_queue(
    resources: Resources,
) -> None:
    """The decision and the cancel mark their outcome from the merchant's endpoints: only an
    approval of the merchant whose endpoint wants approvals reaches the delivery queue."""
    settings = resources.clients.settings
    assert resources.webhooks is not None
    wants = NewEndpoint("http://127.0.0.1:9/hook", ("PaymentApproved",))
    await resources.webhooks.add("m-hook", wants, datetime.now(UTC), "t-1")
    service = resources.service
    hooked = await service.create(NEW, "c-1", merchant_id="m-hook")
    canceled = await service.create(NEW, "c-2", merchant_id="m-hook")
    plain = await service.create(NEW, "c-3")
    await service.cancel(canceled.payment_id)
    for accepted in (plain, hooked):
        await service.decide(PaymentCreated.of(await service.get(accepted.payment_id)))
    await service.settle()
    url = await find_queue_url(resources.clients.sqs, settings.webhook_queue_name)
    queue = SqsQueue(resources.clients.sqs, url)
    assert set(await received(queue, {hooked.payment_id})) == {hooked.payment_id}
