"""The worker against the real emulator: approval, duplicates, poison messages, DLQ, stop."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from paysys.config import Settings
from paysys.core.domain import NewPayment, Payment, PaymentCreated, PaymentStatus
from paysys.core.ports import MessageQueue
from paysys.core.rules import load_rules
from paysys.core.service import PaymentService
from paysys.runtime.resources import Resources
from paysys.worker.options import WorkerOptions
from paysys.worker.worker import Worker

from ..backends import Backend
from ..conftest import fresh_resources, settle_counts, until
from ..fakes import CountingQueue, HeldPayments, Outage

NEW = NewPayment(amount=Decimal("10.00"), currency="BRL", description="test")
NEW_TIME = datetime(2026, 1, 1, tzinfo=UTC)


async def create(resources: Resources, correlation_id: str) -> Payment:
    """A stored payment whose event is on the queue: ``create`` answers once the event is
    queued for a PublishBatch, and a burst run would end at an empty receive before it."""
    accepted = await resources.service.create(NEW, correlation_id)
    await resources.events.flush()
    return await resources.service.get(accepted.payment_id)


def make_worker(
    resources: Resources,
    settings: Settings,
    queue: MessageQueue | None = None,
    service: PaymentService | None = None,
    **overrides: Any,
) -> Worker:
    options = dataclasses.replace(WorkerOptions.from_settings(settings), **overrides)
    return Worker(queue or resources.queue, service or resources.service, options)


async def test_approves_every_pending_payment(
    settings: Settings, resources: Resources, logs
) -> None:
    payments = [await create(resources, f"corr-{i}") for i in range(25)]
    stats = await make_worker(resources, settings, loops=3, max_in_flight=8).run(burst=True)

    assert stats.approved == 25
    assert stats.deleted == 25
    for payment in payments:
        stored = await resources.service.get(payment.id)
        assert stored.status is PaymentStatus.APPROVED
        assert stored.approved_at is not None
        assert stored.approved_at >= stored.created_at
    assert await resources.queue.depth() == (0, 0)
    lines = logs.events("message.processed")
    assert {line["payment_id"] for line in lines} == {p.id for p in payments}
    assert {line["correlation_id"] for line in lines} == {f"corr-{i}" for i in range(25)}
    assert all(line["outcome"] == "approved" and "duration_ms" in line for line in lines)


async def test_duplicate_delivery_is_acknowledged_once_approved(
    settings: Settings, resources: Resources
) -> None:
    payment = await create(resources, "first")
    await make_worker(resources, settings).run(burst=True)
    approved = await resources.service.get(payment.id)

    # SQS delivers at least once: the same event arrives twice more.
    for _ in range(2):
        await resources.events.publish(PaymentCreated.of(payment), "again")
    stats = await make_worker(resources, settings).run(burst=True)

    assert (stats.approved, stats.duplicates, stats.deleted) == (0, 2, 2)
    again = await resources.service.get(payment.id)
    assert again.approved_at == approved.approved_at  # approved exactly once
    assert await resources.queue.depth() == (0, 0)


async def test_malformed_message_never_stops_the_loop_and_ends_in_the_dlq(
    backend: Backend, logs
) -> None:
    async with fresh_resources(  # no lingers: the first run must end within the visibility
        backend,
        visibility_timeout_seconds=1,
        max_receive_count=2,
        publish_linger_ms=0,
        worker_receive_linger_ms=0,
        worker_delete_linger_ms=0,
    ) as resources:
        settings = resources.clients.settings
        sqs, url = resources.clients.sqs, resources.queue.queue_url
        await sqs.send_message(QueueUrl=url, MessageBody="{not json")
        await sqs.send_message(
            QueueUrl=url, MessageBody=json.dumps({"type": "PaymentCreated", "payment_id": "nope"})
        )
        good = await create(resources, "good")

        first = await make_worker(resources, settings, loops=2).run(burst=True)
        assert first.approved == 1
        assert first.malformed == 2
        assert (await resources.service.get(good.id)).status is PaymentStatus.APPROVED
        malformed = logs.events("message.processed")
        assert sum(1 for m in malformed if m["outcome"] == "malformed" and m["message_id"]) == 2

        # Not deleted: redelivered after the visibility timeout, then moved to the DLQ.
        async with asyncio.timeout(20):
            while (await resources.dlq.depth())[0] < 2:
                await asyncio.sleep(1.1)
                await make_worker(resources, settings).run(burst=True)
        assert await resources.queue.depth() == (0, 0)


async def test_event_for_unknown_payment_is_not_acknowledged(
    settings: Settings, resources: Resources
) -> None:
    ghost = PaymentCreated(
        payment_id="00000000-0000-4000-8000-000000000000",
        amount=Decimal("1.00"),
        currency="BRL",
        created_at=NEW_TIME,
    )
    await resources.events.publish(ghost, "ghost")
    stats = await make_worker(resources, settings).run(burst=True)
    assert (stats.failed, stats.deleted) == (1, 0)
    assert await resources.queue.depth() == (0, 1)  # waits for redelivery


async def test_stop_waits_for_the_long_poll_and_exits_cleanly(
    settings: Settings, resources: Resources
) -> None:
    queue = CountingQueue(resources.queue)
    worker = make_worker(resources, settings, queue, loops=4, wait_seconds=2)
    running = asyncio.create_task(worker.run())
    await until(lambda: queue.receiving == 4)  # every loop is inside a long poll
    assert worker.running_loops == 4
    payment = await create(resources, "during-stop")
    worker.stop()
    stats = await asyncio.wait_for(running, timeout=15)  # hang guard, not a speed check
    assert worker.running_loops == 0
    # The message either was processed or handed back visible: never stranded in flight.
    stored = await resources.service.get(payment.id)
    visible, in_flight = await resources.queue.depth()
    assert in_flight == 0
    assert (stored.status is PaymentStatus.APPROVED) == (visible == 0)
    assert stats.in_flight == 0


async def test_in_flight_never_exceeds_the_semaphore(
    settings: Settings, resources: Resources
) -> None:
    payments = [await create(resources, f"c{i}") for i in range(30)]
    held = HeldPayments(resources.payments, held=True)
    service = dataclasses.replace(resources.service, payments=held)
    worker = make_worker(resources, settings, service=service, loops=4, max_in_flight=5)
    run = asyncio.create_task(worker.run(burst=True))
    # Four loops bring up to 40 messages; the semaphore lets five of them decide at once.
    await until(lambda: held.running == 5)
    held.released.set()
    stats = await run
    assert held.peak == 5
    assert stats.batches >= 6  # 30 messages in batches of at most 5
    # A decision whose reply was lost past its retries comes back as a duplicate: every
    # payment is approved once, whoever counted it.
    assert stats.approved + stats.duplicates == 30
    for payment in payments:
        assert (await resources.service.get(payment.id)).status is PaymentStatus.APPROVED


async def test_a_backend_blip_is_retried_in_the_worker_not_after_the_visibility_timeout(
    settings: Settings, resources: Resources
) -> None:
    payment = await create(resources, "blip")
    payments = Outage(resources.payments, "decide", times=1)
    service = dataclasses.replace(resources.service, payments=payments)
    worker = make_worker(resources, settings, service=service)
    assert WorkerOptions.from_settings(settings).retry_base_seconds == 1.0
    assert settings.visibility_timeout_seconds == 30
    # Back in 0.5-1 s; the guard is well under the 30 s SQS would hide the message for.
    stats = await asyncio.wait_for(worker.run(burst=True), 15)
    assert (stats.received, stats.retried, stats.failed, stats.approved) == (1, 1, 0, 1)
    assert (await resources.service.get(payment.id)).status is PaymentStatus.APPROVED
    assert await resources.queue.depth() == (0, 0)


async def test_long_work_keeps_its_message_invisible(backend: Backend) -> None:
    async with fresh_resources(backend, visibility_timeout_seconds=1) as resources:
        payment = await create(resources, "slow")
        slow = dataclasses.replace(
            resources.service, payments=HeldPayments(resources.payments, delay=2.5)
        )
        worker = make_worker(resources, resources.clients.settings, service=slow)
        stats = await worker.run(burst=True)
        # Without the heartbeat SQS would hand the message to a second loop mid-work.
        assert stats.extended >= 1
        assert (stats.received, stats.approved, stats.duplicates) == (1, 1, 0)
        assert (await resources.service.get(payment.id)).status is PaymentStatus.APPROVED
        assert await resources.queue.depth() == (0, 0)


async def test_rules_decline_with_a_reason_and_velocity_holds_across_workers(
    settings: Settings, resources: Resources
) -> None:
    """Two workers (each its own service, as two processes) share the velocity counter."""
    rules = load_rules(
        '{"currencies": ["BRL"], "velocity": {"payments_per_minute": 4}, "deny_merchants": []}'
    )
    # One clock minute for every payment, however slow the machine: a payment's velocity
    # window is the minute it was created in, so the creating clock is held still (a real
    # minute could end mid-run on a loaded machine and renew the budget).
    minute = datetime.now(UTC).replace(second=30, microsecond=0)
    held = dataclasses.replace(
        resources, service=dataclasses.replace(resources.service, clock=lambda: minute)
    )
    euro = await resources.service.create(NewPayment(Decimal("1.00"), "EUR", ""), "c-eur")
    made = [await create(held, f"c-{i}") for i in range(10)]
    services = [
        dataclasses.replace(resources.service, rules=rules, clock=lambda: minute) for _ in range(2)
    ]
    workers = [make_worker(resources, settings, service=s, loops=2) for s in services]
    stats = await asyncio.gather(*(w.run(burst=True) for w in workers))
    assert sum(s.approved for s in stats) == 4  # within one minute: the limit, exactly
    assert sum(s.declined for s in stats) == 7
    stored = [await resources.service.get(p.id) for p in made]
    reasons = sorted(str(p.decline_reason) for p in stored)
    assert reasons == ["None"] * 4 + ["velocity_limit"] * 6
    eur = await resources.service.get(euro.payment_id)
    assert (eur.status, eur.decline_reason) == (PaymentStatus.DECLINED, "currency_not_allowed")
    await settle_counts(resources)
    counts = (await resources.payments.counts("default")).by_status
    assert (counts[PaymentStatus.APPROVED], counts[PaymentStatus.DECLINED]) == (4, 7)
