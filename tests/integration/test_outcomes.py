"""Outcome events on the real emulator: the outcomes topic reaches a subscriber queue with
the documented attributes, and the outbox is cleared after a successful publish."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal

from paysys.core.domain import NewPayment, PaymentCreated
from paysys.runtime.resources import Resources

from ..system.test_outcomes import subscriber

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
