"""A decision that hits a backend failure is retried in the worker after a jittered backoff
(doubled per retry), keeping its message hidden and none of its receives used; a stop ends
the wait and hands the message back at once."""

from __future__ import annotations

import asyncio

from paysys.core.domain import PaymentStatus
from paysys.worker.backoff import backoff_seconds

from ..conftest import until
from ..fakes import FakeSystem, Outage
from .conftest import GUARD_SECONDS
from .test_worker import create, make_worker

FAST = 0.01  # the tests' first backoff, in seconds


def test_the_backoff_doubles_per_retry_with_equal_jitter() -> None:
    def longest(low: float, high: float) -> float:
        return high

    def shortest(low: float, high: float) -> float:
        return low

    assert [backoff_seconds(n, 1.0, uniform=longest) for n in range(1, 5)] == [1.0, 2.0, 4.0, 8.0]
    assert [backoff_seconds(n, 1.0, uniform=shortest) for n in range(1, 5)] == [0.5, 1.0, 2.0, 4.0]
    assert backoff_seconds(10_000, 1.0, uniform=longest) == 2.0**16  # a huge count cannot overflow
    assert [backoff_seconds(n, 0.25, 5.0, uniform=longest) for n in (5, 6)] == [4.0, 5.0]  # capped
    assert all(1.0 <= backoff_seconds(2, 1.0) <= 2.0 for _ in range(200))


async def test_a_blip_is_retried_in_the_worker_and_the_payment_approved(
    fakes: FakeSystem, logs
) -> None:
    [payment] = await create(fakes, 1)
    payments = Outage(fakes.payments, "decide", times=2)
    worker = make_worker(fakes, fakes.service(payments=payments), retry_base_seconds=FAST)
    stats = await asyncio.wait_for(worker.run(burst=True), GUARD_SECONDS)

    assert (stats.received, stats.retried, stats.failed, stats.approved) == (1, 2, 0, 1)
    assert (await fakes.payments.get(payment.id)).status is PaymentStatus.APPROVED
    assert await fakes.queue.depth() == (0, 0)  # deleted: one receive was enough
    retries = logs.events("worker.retry_scheduled")
    assert [r["retry"] for r in retries] == [1, 2]
    assert FAST / 2 <= retries[0]["seconds"] <= FAST <= retries[1]["seconds"] <= 2 * FAST


async def test_after_its_retries_the_message_is_left_to_sqs(fakes: FakeSystem) -> None:
    await create(fakes, 1)
    payments = Outage(fakes.payments, "decide")
    worker = make_worker(
        fakes, fakes.service(payments=payments), retry_attempts=2, retry_base_seconds=FAST
    )
    stats = await asyncio.wait_for(worker.run(burst=True), GUARD_SECONDS)

    assert (stats.received, stats.retried, stats.failed, stats.deleted) == (1, 2, 1, 0)
    assert len(payments.refused) == 3  # the first try and two retries
    assert await fakes.queue.depth() == (0, 1)  # hidden until its visibility timeout
    fakes.clock.advance(fakes.visibility_timeout)
    assert await fakes.queue.depth() == (1, 0)  # redelivered: nothing lost


async def test_with_no_retries_a_failed_decision_is_left_at_once(fakes: FakeSystem) -> None:
    await create(fakes, 1)
    service = fakes.service(payments=Outage(fakes.payments, "decide"))
    stats = await make_worker(fakes, service, retry_attempts=0).run(burst=True)
    assert (stats.retried, stats.failed) == (0, 1)
    assert await fakes.queue.depth() == (0, 1)


async def test_a_stop_ends_the_wait_and_hands_the_message_back(fakes: FakeSystem) -> None:
    await create(fakes, 1)
    payments = Outage(fakes.payments, "decide")
    hour = 3600.0  # a backoff only the stop can end
    worker = make_worker(fakes, fakes.service(payments=payments), retry_base_seconds=hour)
    run = asyncio.create_task(worker.run())
    await until(lambda: worker.stats.retried == 1, GUARD_SECONDS)
    worker.stop()
    stats = await asyncio.wait_for(run, GUARD_SECONDS)

    assert (stats.retried, stats.failed, stats.released) == (1, 1, 1)
    assert len(payments.refused) == 1  # no retry after the stop
    assert await fakes.queue.depth() == (1, 0)  # visible at once for the next worker
