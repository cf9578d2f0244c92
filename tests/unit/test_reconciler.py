"""The reconciler on the fakes: payments left Pending past the window get their event again."""

from __future__ import annotations

import asyncio
from decimal import Decimal

from paysys.core.domain import NewPayment, PaymentCreated
from paysys.core.service import PaymentService
from paysys.worker.reconciler import run_reconciler

from ..conftest import until
from ..fakes import FakeSystem, Outage
from .conftest import GUARD_SECONDS

NEW = NewPayment(amount=Decimal("3.00"), currency="EUR", description="")
AFTER = 60.0


def reconcile(service: PaymentService, stop: asyncio.Event, interval: float) -> asyncio.Task[None]:
    return asyncio.create_task(
        run_reconciler(service, stop, after_seconds=AFTER, interval_seconds=interval, batch_size=10)
    )


async def test_republishes_only_payments_pending_past_the_window(fakes: FakeSystem, logs) -> None:
    service = fakes.service()
    lost = await service.create(NEW, "lost")
    done = await service.create(NEW, "done")
    fakes.clock.advance(AFTER + 1)
    fresh = await service.create(NEW, "fresh")
    await service.approve(PaymentCreated.of(await service.get(done.payment_id)))
    await fakes.queue.delete(await fakes.queue.receive(10, 0))  # the first events are gone
    published = len(fakes.topic.published)

    stop = asyncio.Event()
    running = reconcile(service, stop, interval=3600)
    await until(lambda: len(fakes.topic.published) > published)
    stop.set()
    await asyncio.wait_for(running, GUARD_SECONDS)  # stop ends the interval wait at once

    [message] = await fakes.queue.receive(10, 0)
    assert PaymentCreated.from_message(message.body).payment_id == lost.payment_id
    assert message.correlation_id == "lost"  # the payment's own, not a new one
    [line] = logs.events("payment.republished")
    assert line["payment_id"] == lost.payment_id
    assert fresh.payment_id not in {e.payment_id for e in fakes.topic.published[published:]}


async def test_an_outage_is_logged_and_the_next_pass_succeeds(fakes: FakeSystem, logs) -> None:
    lost = await fakes.service().create(NEW, "lost")
    await fakes.queue.delete(await fakes.queue.receive(10, 0))
    fakes.clock.advance(AFTER + 1)
    payments = Outage(fakes.payments, "pending_before")

    stop = asyncio.Event()
    running = reconcile(fakes.service(payments=payments), stop, interval=0.01)
    await until(lambda: bool(logs.events("reconciler.failed")))
    payments.down = False
    await until(lambda: bool(logs.events("payment.republished")))
    stop.set()
    await asyncio.wait_for(running, GUARD_SECONDS)

    assert fakes.topic.published[-1].payment_id == lost.payment_id
