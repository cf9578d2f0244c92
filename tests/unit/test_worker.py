"""The worker on the fakes: approval, acknowledgement, redelivery, concurrency, stop, heartbeat."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from paysys.core.domain import NewPayment, Payment, PaymentCreated, PaymentStatus
from paysys.core.service import PaymentService
from paysys.worker.worker import Worker, WorkerOptions

from ..conftest import until
from ..fakes import CountingQueue, FakeSystem, HeldPayments
from .conftest import GUARD_SECONDS

NEW = NewPayment(amount=Decimal("10.00"), currency="BRL", description="test")
GHOST = PaymentCreated(
    payment_id="00000000-0000-4000-8000-000000000000",
    amount=Decimal("1.00"),
    currency="BRL",
    created_at=datetime(2026, 1, 1, tzinfo=UTC),
)


def make_worker(fakes: FakeSystem, service: PaymentService | None = None, **options: Any) -> Worker:
    """A worker on the fakes; ``wait_seconds=0`` so a burst run ends at the first empty poll."""
    defaults: dict[str, Any] = {
        "loops": 2,
        "max_in_flight": 10,
        "wait_seconds": 0,
        "drain_seconds": GUARD_SECONDS,
        "visibility_timeout_seconds": fakes.visibility_timeout,
    }
    return Worker(fakes.queue, service or fakes.service(), WorkerOptions(**(defaults | options)))


async def create(fakes: FakeSystem, count: int) -> list[Payment]:
    service = fakes.service()
    accepted = [await service.create(NEW, f"corr-{i}") for i in range(count)]
    return [await service.get(a.payment_id) for a in accepted]


def held(fakes: FakeSystem, **options: Any) -> tuple[HeldPayments, PaymentService]:
    """A service whose approvals wait while held (see ``HeldPayments``)."""
    payments = HeldPayments(fakes.payments, **options)
    return payments, fakes.service(payments=payments)


def send(fakes: FakeSystem, body: str) -> None:
    fakes.queue.deliver(body, {"correlation_id": "raw"})


async def test_approves_every_pending_payment_and_deletes_its_message(
    fakes: FakeSystem, logs
) -> None:
    payments = await create(fakes, 25)
    fakes.clock.advance(3)
    stats = await make_worker(fakes, loops=3, max_in_flight=8).run(burst=True)

    assert (stats.received, stats.approved, stats.deleted) == (25, 25, 25)
    for payment in payments:
        stored = await fakes.payments.get(payment.id)
        assert stored.status is PaymentStatus.APPROVED
        assert stored.approved_at == fakes.clock.now()
    assert await fakes.queue.depth() == (0, 0)
    lines = logs.events("message.processed")
    assert {(line["payment_id"], line["correlation_id"]) for line in lines} == {
        (p.id, p.correlation_id) for p in payments
    }


async def test_duplicate_deliveries_are_acknowledged(fakes: FakeSystem) -> None:
    [payment] = await create(fakes, 1)
    await make_worker(fakes).run(burst=True)
    approved = await fakes.payments.get(payment.id)
    for _ in range(2):  # at least once: the same event twice more
        await fakes.topic.publish(PaymentCreated.of(payment), "again")
    fakes.clock.advance(5)

    stats = await make_worker(fakes).run(burst=True)
    assert (stats.approved, stats.duplicates, stats.deleted) == (0, 2, 2)
    assert await fakes.payments.get(payment.id) == approved  # approved exactly once
    assert await fakes.queue.depth() == (0, 0)


async def test_malformed_and_unknown_are_left_for_redelivery_then_dead_lettered(
    fakes: FakeSystem,
) -> None:
    send(fakes, "{not json")
    await fakes.topic.publish(GHOST, "ghost")
    [good] = await create(fakes, 1)

    stats = await make_worker(fakes).run(burst=True)
    assert (stats.approved, stats.malformed, stats.failed, stats.deleted) == (1, 1, 1, 1)
    assert (await fakes.payments.get(good.id)).status is PaymentStatus.APPROVED
    assert await fakes.queue.depth() == (0, 2)  # not deleted: in flight until the timeout

    for _ in range(fakes.max_receive_count):  # each timeout brings them back, count raised
        fakes.clock.advance(fakes.visibility_timeout)
        await make_worker(fakes).run(burst=True)
    assert await fakes.queue.depth() == (0, 0)
    assert await fakes.dlq.depth() == (2, 0)
    dead = await fakes.dlq.receive(10, 0)
    assert all(m.receive_count == fakes.max_receive_count + 1 for m in dead)


async def test_deletes_are_batched_and_only_after_success(fakes: FakeSystem) -> None:
    await create(fakes, 9)
    send(fakes, "garbage")
    payments, service = held(fakes, held=True)
    worker = make_worker(fakes, service, loops=1)
    running = asyncio.create_task(worker.run(burst=True))

    await until(lambda: payments.running == 9)  # the whole batch is being approved
    assert fakes.queue.deletes == []  # nothing acknowledged before it succeeded
    assert await fakes.queue.depth() == (0, 10)
    payments.released.set()
    stats = await asyncio.wait_for(running, GUARD_SECONDS)

    assert (stats.batches, stats.approved, stats.malformed, stats.deleted) == (1, 9, 1, 9)
    [deleted] = fakes.queue.deletes  # one call for the batch, without the malformed one
    assert len(deleted) == 9
    assert await fakes.queue.depth() == (0, 1)


async def test_loops_share_the_semaphore_and_never_exceed_max_in_flight(
    fakes: FakeSystem,
) -> None:
    await create(fakes, 30)
    payments, service = held(fakes, delay=0.01)
    stats = await make_worker(fakes, service, loops=4, max_in_flight=5).run(burst=True)
    assert stats.approved == 30
    assert payments.peak == 5  # never more, and the limit was used
    assert stats.batches >= 6
    assert stats.in_flight == 0


async def test_stop_hands_back_a_message_that_arrives_after_it(fakes: FakeSystem) -> None:
    queue = CountingQueue(fakes.queue)
    options = WorkerOptions(loops=1, wait_seconds=10, drain_seconds=GUARD_SECONDS)
    worker = Worker(queue, fakes.service(), options)
    running = asyncio.create_task(worker.run())
    await until(lambda: queue.receiving == 1)  # the loop is inside its long poll
    worker.stop()
    [payment] = await create(fakes, 1)  # arrives during the poll, after stop

    stats = await asyncio.wait_for(running, GUARD_SECONDS)  # well before the 10 s poll ends
    assert (stats.received, stats.released, stats.approved) == (1, 1, 0)
    assert worker.running_loops == 0
    assert await fakes.queue.depth() == (1, 0)  # visible again for the next worker
    assert (await fakes.payments.get(payment.id)).status is PaymentStatus.PENDING


async def test_stop_waits_for_running_batches(fakes: FakeSystem) -> None:
    await create(fakes, 3)
    payments, service = held(fakes, held=True)
    worker = make_worker(fakes, service, loops=2, wait_seconds=1)
    running = asyncio.create_task(worker.run())
    await until(lambda: payments.running == 3)
    worker.stop()
    done, _ = await asyncio.wait({running}, timeout=0.1)
    assert not done  # stopping, but the batch is still being worked on
    payments.released.set()

    stats = await asyncio.wait_for(running, GUARD_SECONDS)
    assert (stats.approved, stats.deleted, stats.in_flight) == (3, 3, 0)
    assert await fakes.queue.depth() == (0, 0)


async def test_a_batch_still_running_after_the_drain_bound_is_cancelled(
    fakes: FakeSystem, logs
) -> None:
    await create(fakes, 2)
    payments, service = held(fakes, held=True)
    worker = make_worker(fakes, service, loops=1, drain_seconds=0.05)
    running = asyncio.create_task(worker.run(burst=True))
    await until(lambda: payments.running == 2)
    worker.stop()

    stats = await asyncio.wait_for(running, GUARD_SECONDS)
    assert (stats.approved, stats.deleted, stats.in_flight) == (0, 0, 0)
    # Not acknowledged, and not left hidden for the visibility timeout: visible again at
    # once for the next worker.
    assert stats.released == 2
    assert await fakes.queue.depth() == (2, 0)
    [timeout] = logs.events("worker.drain_timeout")
    assert (timeout["cancelled_batches"], timeout["handed_back"]) == (1, 2)


async def test_the_heartbeat_keeps_long_work_invisible(logs) -> None:
    fakes = FakeSystem(visibility_timeout=1)  # the heartbeat beats every 0.5 s
    [payment] = await create(fakes, 1)
    payments, service = held(fakes, held=True)
    worker = make_worker(fakes, service, loops=1)
    running = asyncio.create_task(worker.run(burst=True))
    await until(lambda: payments.running == 1)

    fakes.clock.advance(0.9)  # nearly timed out ...
    await until(lambda: worker.stats.extended >= 1)  # ... when the heartbeat extends it
    fakes.clock.advance(0.6)  # past the first deadline
    assert await fakes.queue.depth() == (0, 1)  # still ours: no second consumer gets it
    payments.released.set()

    stats = await asyncio.wait_for(running, GUARD_SECONDS)
    assert (stats.received, stats.approved, stats.duplicates) == (1, 1, 0)
    assert (await fakes.payments.get(payment.id)).status is PaymentStatus.APPROVED
    assert await fakes.queue.depth() == (0, 0)
    assert logs.events("worker.visibility_extended")
