"""The reconciler on the fakes: payments left Pending past the window get their event again,
once per window whatever the number of workers, with backoff, paging and a pause."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import pytest

from paysys.adapters.dynamodb_items import Layout
from paysys.core.domain import NewPayment, PaymentCreated
from paysys.errors import BackendUnavailable, PaymentNotFound
from paysys.worker.reconciler import Reconciler, ReconcilerOptions

from ..conftest import until
from ..fakes import FakePayments, FakeSystem, Outage
from .conftest import GUARD_SECONDS

NEW = NewPayment(amount=Decimal("3.00"), currency="EUR", description="")
AFTER = 60.0


def reconciler(fakes: FakeSystem, owner: str = "w1", **options: float) -> Reconciler:
    opts = ReconcilerOptions(**({"after_seconds": AFTER, "batch_size": 10} | options))  # type: ignore[arg-type]
    return Reconciler(
        fakes.payments, fakes.leases, fakes.topic, opts, owner=owner, clock=fakes.clock.now
    )


async def drained(fakes: FakeSystem) -> None:
    """The first events are gone (as if their publish had been lost)."""
    await fakes.queue.delete(await fakes.queue.receive(10, 0))


async def test_republishes_only_payments_pending_past_the_window(fakes: FakeSystem, logs) -> None:
    service = fakes.service()
    lost = await service.create(NEW, "lost")
    done = await service.create(NEW, "done")
    fakes.clock.advance(AFTER + 1)
    fresh = await service.create(NEW, "fresh")
    await service.decide(PaymentCreated.of(await service.get(done.payment_id)))
    await drained(fakes)
    published = len(fakes.topic.published)

    assert await reconciler(fakes).pass_once() == 1

    [message] = await fakes.queue.receive(10, 0)
    assert PaymentCreated.from_message(message.body).payment_id == lost.payment_id
    assert message.correlation_id == "lost"  # the payment's own, not a new one
    [line] = logs.events("payment.republished")
    assert line["payment_id"] == lost.payment_id
    assert fresh.payment_id not in {e.payment_id for e in fakes.topic.published[published:]}


async def test_many_workers_republish_a_payment_once_per_window(fakes: FakeSystem) -> None:
    service = fakes.service()
    made = [await service.create(NEW, f"c{i}") for i in range(25)]
    fakes.clock.advance(AFTER + 1)
    published = len(fakes.topic.published)

    workers = [reconciler(fakes, owner=f"w{n}") for n in range(3)]
    counts = await asyncio.gather(*(w.pass_once() for w in workers))
    assert sum(counts) == 25  # every payment once, whoever claimed it
    again = [e.payment_id for e in fakes.topic.published[published:]]
    assert sorted(again) == sorted(p.payment_id for p in made)

    # Later passes within the backoff window republish nothing more.
    fakes.clock.advance(AFTER / 2)
    for worker in workers:
        assert await worker.pass_once() == 0
    # Past it, each still-pending payment is due again, once.
    fakes.clock.advance(AFTER * 3)
    assert sum([await w.pass_once() for w in workers]) == 25


async def test_pages_through_more_than_a_batch_in_one_pass() -> None:
    fakes = FakeSystem(payments=FakePayments(Layout(pending_shards=1)))
    service = fakes.service()
    for i in range(30):
        await service.create(NEW, f"c{i}")
    fakes.clock.advance(AFTER + 1)
    one = reconciler(fakes, batch_size=2, shards=1)
    assert await one.pass_once() == 30
    assert one.stats.republished == 30
    assert one.stats.oldest_overdue_seconds >= AFTER


async def test_an_outage_is_logged_and_the_next_pass_succeeds(fakes: FakeSystem, logs) -> None:
    lost = await fakes.service().create(NEW, "lost")
    await drained(fakes)
    fakes.clock.advance(AFTER + 1)
    payments = Outage(fakes.payments, "due")
    worker = Reconciler(
        payments, fakes.leases, fakes.topic,
        ReconcilerOptions(after_seconds=AFTER, interval_seconds=0.01),
        owner="w", clock=fakes.clock.now,
    )  # fmt: skip

    stop = asyncio.Event()
    running = asyncio.create_task(worker.run(stop))
    await until(lambda: bool(logs.events("reconciler.failed")))
    payments.down = False
    fakes.clock.advance(1)  # the leases of the failed pass run out
    await until(lambda: bool(logs.events("payment.republished")))
    stop.set()
    await asyncio.wait_for(running, GUARD_SECONDS)

    assert fakes.topic.published[-1].payment_id == lost.payment_id
    assert worker.stats.failures >= 1


async def test_a_pass_always_pauses_even_when_a_full_batch_was_found(fakes: FakeSystem) -> None:
    service = fakes.service()
    for i in range(5):
        await service.create(NEW, f"c{i}")
    fakes.clock.advance(AFTER + 1)
    worker = reconciler(fakes, batch_size=1, interval_seconds=3600)
    stop = asyncio.Event()
    running = asyncio.create_task(worker.run(stop))
    # On the fakes nothing yields inside a pass: without a pause the loop would spin and this
    # wait would never see a single finished pass (the hang guard would fail the test).
    await until(lambda: worker.stats.passes >= 1)
    stop.set()  # stop ends the pause at once
    await asyncio.wait_for(running, GUARD_SECONDS)
    assert worker.stats.passes == 1
    assert worker.stats.republished == 5  # one pass paged through all five, one per query


class FailingOne:
    """Wraps a repository: claims of ``bad`` raise ``error`` (the rest pass through)."""

    def __init__(self, inner: FakePayments, bad: str, error: Exception) -> None:
        self.inner, self.bad, self.error = inner, bad, error

    async def claim(self, due: Any, next_due: Any) -> Any:
        if due.payment_id == self.bad:
            raise self.error
        return await self.inner.claim(due, next_due)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


@pytest.mark.parametrize(
    "error", [BackendUnavailable("throttled"), KeyError("status"), PaymentNotFound("x")]
)
async def test_one_failed_claim_strands_none_of_the_others(
    fakes: FakeSystem, logs, error: Exception
) -> None:
    """A claim that fails (an outage, a malformed item) is that payment's alone: the claims
    of the same page that succeeded are republished, and the worker keeps running."""
    fakes = FakeSystem(payments=FakePayments(Layout(pending_shards=1)))
    service = fakes.service()
    made = [(await service.create(NEW, f"c{i}")).payment_id for i in range(5)]
    await drained(fakes)
    fakes.clock.advance(AFTER + 1)
    payments = FailingOne(fakes.payments, made[2], error)
    worker = Reconciler(
        payments, fakes.leases, fakes.topic,
        ReconcilerOptions(after_seconds=AFTER, batch_size=10, shards=1),
        owner="w", clock=fakes.clock.now,
    )  # fmt: skip
    assert await worker.pass_once() == 4
    republished = {e.payment_id for e in fakes.topic.published[-4:]}
    assert republished == set(made) - {made[2]}
    [failed] = logs.events("reconciler.claim_failed")
    assert failed["payment_id"] == made[2]


async def test_an_unexpected_error_does_not_end_the_reconciler(fakes: FakeSystem, logs) -> None:
    lost = await fakes.service().create(NEW, "lost")
    await drained(fakes)
    fakes.clock.advance(AFTER + 1)

    class Unexpected:
        def __init__(self) -> None:
            self.down = True

        async def acquire(self, *args: Any) -> bool:
            if self.down:
                raise RuntimeError("malformed lease item")
            return bool(await fakes.leases.acquire(*args))

    leases = Unexpected()
    worker = Reconciler(
        fakes.payments, leases, fakes.topic,
        ReconcilerOptions(after_seconds=AFTER, interval_seconds=0.01),
        owner="w", clock=fakes.clock.now,
    )  # fmt: skip
    stop = asyncio.Event()
    running = asyncio.create_task(worker.run(stop))
    await until(lambda: bool(logs.events("reconciler.crashed")))
    assert not running.done(), "the reconciler outlives an unexpected error"
    leases.down = False
    await until(lambda: bool(logs.events("payment.republished")))
    stop.set()
    await asyncio.wait_for(running, GUARD_SECONDS)
    assert fakes.topic.published[-1].payment_id == lost.payment_id
