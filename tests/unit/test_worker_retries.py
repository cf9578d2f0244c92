"""A decision that hits a backend failure: its message comes back after a backoff (doubled
per receive, capped at the visibility timeout), not after the whole visibility timeout."""

from __future__ import annotations

import asyncio

from paysys.core.domain import PaymentStatus
from paysys.worker.retries import backoff_seconds

from ..conftest import until
from ..fakes import FakeSystem, Outage
from .conftest import GUARD_SECONDS
from .test_worker import create, make_worker


def test_the_backoff_doubles_per_receive_up_to_the_cap() -> None:
    def longest(low: float, high: float) -> float:
        return high

    def shortest(low: float, high: float) -> float:
        return low

    ceilings = [backoff_seconds(n, 1, 30, longest) for n in range(1, 9)]
    assert ceilings == [1, 2, 4, 8, 16, 30, 30, 30]
    floors = [backoff_seconds(n, 1, 30, shortest) for n in range(1, 9)]
    assert floors == [1, 1, 2, 4, 8, 15, 15, 15]  # equal jitter: at least half, never 0 s
    assert backoff_seconds(10_000, 3, 600, longest) == 600  # a huge count cannot overflow
    assert all(1 <= backoff_seconds(3, 2, 30) <= 8 for _ in range(200))


async def test_a_failed_decision_is_retried_after_the_backoff(fakes: FakeSystem) -> None:
    [payment] = await create(fakes, 1)
    payments = Outage(fakes.payments, "transition")
    worker = make_worker(fakes, fakes.service(payments=payments))
    run = asyncio.create_task(worker.run(burst=True))  # burst: ends once nothing can return

    await until(lambda: worker.stats.retried == 1, GUARD_SECONDS)
    assert await fakes.queue.depth() == (0, 1)  # hidden for its backoff (1 s), not 30 s
    fakes.clock.advance(0.5)
    assert await fakes.queue.depth() == (0, 1)
    assert not run.done()  # a burst run waits for the message it handed back
    with payments.restored():
        fakes.clock.advance(0.5)
        stats = await asyncio.wait_for(run, GUARD_SECONDS)

    assert (stats.received, stats.failed, stats.retried, stats.approved) == (2, 1, 1, 1)
    assert (await fakes.payments.get(payment.id)).status is PaymentStatus.APPROVED
    assert await fakes.queue.depth() == (0, 0)
    assert [name for name, _ in payments.refused] == ["transition"]


async def test_with_retries_off_a_failed_decision_waits_for_the_visibility_timeout(
    fakes: FakeSystem,
) -> None:
    await create(fakes, 1)
    service = fakes.service(payments=Outage(fakes.payments, "transition"))
    worker = make_worker(fakes, service, retry_base_seconds=0)
    stats = await asyncio.wait_for(worker.run(burst=True), GUARD_SECONDS)
    assert (stats.failed, stats.retried) == (1, 0)
    fakes.clock.advance(fakes.visibility_timeout - 1)
    assert await fakes.queue.depth() == (0, 1)
    fakes.clock.advance(1)
    assert await fakes.queue.depth() == (1, 0)


async def test_when_the_queue_is_down_too_the_message_waits_for_its_timeout(
    fakes: FakeSystem, logs
) -> None:
    await create(fakes, 1)
    queue = Outage(fakes.queue, "change_visibility")
    service = fakes.service(payments=Outage(fakes.payments, "transition"))
    worker = make_worker(fakes, service, queue=queue)
    stats = await asyncio.wait_for(worker.run(burst=True), GUARD_SECONDS)
    assert (stats.failed, stats.retried) == (1, 0)
    [failed] = logs.events("worker.retry_schedule_failed")
    assert failed["count"] == 1
    fakes.clock.advance(fakes.visibility_timeout)
    assert await fakes.queue.depth() == (1, 0)  # redelivered as before, nothing lost
