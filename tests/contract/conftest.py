"""One contract, two implementations: every test here runs on the in-memory fakes (id ``fake``,
part of the fast tier) and on the real adapters over the emulator (id ``real``).

Time: the fakes' clock moves only when a test calls ``ports.pass_time``; on the real side the
emulator's clock runs by itself, so ``pass_time`` does nothing there and the test instead polls
(``receive_eventually``) under a hang guard. Visibility-sensitive tests use 1 s visibility.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pytest
from aiodynamo.expressions import F

from paysys.adapters.dynamodb import DECIDED_BY
from paysys.adapters.dynamodb_prepared import decision_update
from paysys.config import Settings
from paysys.core.domain import PaymentCreated, PaymentStatus, format_time
from paysys.core.ports import (
    EventPublisher,
    IdempotencyStore,
    MessageQueue,
    PaymentRepository,
    QueueMessage,
    VelocityStore,
)
from paysys.runtime.resources import Resources

from ..backends import Backend
from ..conftest import fresh_settings, settle_counts
from ..fakes import FakeClock, FakePayments, FakeSystem

# The queue keeps the default 30 s visibility (a received message stays hidden for the whole
# test); a test that wants it back asks for ``visibility_seconds=1``.
CONTRACT = {"max_receive_count": 2, "visibility_timeout_seconds": 30}
GUARD_SECONDS = 15.0  # a hang guard, not a speed check


@dataclass
class Ports:
    payments: PaymentRepository
    idempotency: IdempotencyStore
    events: EventPublisher
    queue: MessageQueue
    dlq: MessageQueue
    settings: Settings
    clock: FakeClock | None  # None on the real side
    velocity: VelocityStore
    resources: Resources | None = None  # the real side's

    async def settle_counts(self) -> None:
        """The real side's counts journalled and rolled up (the worker's rollup, at once);
        the fakes count at once."""
        if self.resources is not None:
            await settle_counts(self.resources)

    @property
    def poll_seconds(self) -> int:
        """A receive's wait: the fakes need none (time moves on request), SQS a long poll."""
        return 0 if self.clock else 1

    async def decide_unanswered(
        self,
        created: PaymentCreated,
        to: PaymentStatus,
        now: datetime,
        reason: str | None,
        token: str,
    ) -> None:
        """A worker's decision whose write commits and whose reply is lost: the payment moved
        by ``token``, counted by nobody (on the real side: the adapter's very write, sent
        past the adapter)."""
        if isinstance(self.payments, FakePayments):
            self.payments.decide_only(created.payment_id, to, now, reason, token)
            return
        assert self.resources is not None  # the real side
        real = self.resources.payments
        update = decision_update(to, format_time(now), reason, token, token_attribute=DECIDED_BY)
        await real.client.update_item(
            real.table,
            {"id": created.payment_id},
            update,
            condition=F("status").equals(PaymentStatus.PENDING.value),
        )

    def pass_time(self, seconds: float) -> None:
        if self.clock:
            self.clock.advance(seconds)

    async def receive_eventually(
        self, queue: MessageQueue, count: int = 1, visibility_seconds: int | None = None
    ) -> list[QueueMessage]:
        """Receive until ``count`` messages came back (on the fakes: until none is left)."""
        got: list[QueueMessage] = []
        async with asyncio.timeout(GUARD_SECONDS):
            while len(got) < count:
                batch = await queue.receive(
                    min(10, count - len(got)), self.poll_seconds, visibility_seconds
                )
                if self.clock and not batch:
                    break  # nothing will come on the fakes until the test moves time
                got += batch
        return got

    async def receives_nothing_for(self, queue: MessageQueue, seconds: int) -> bool:
        """True if no message becomes receivable within ``seconds`` (a long poll on SQS)."""
        self.pass_time(seconds)
        return await queue.receive(10, 0 if self.clock else seconds) == []


@pytest.fixture
def settings(backend: Backend) -> Settings:
    return fresh_settings(backend, **CONTRACT)


@pytest.fixture(params=["fake", "real"])
def ports(request: pytest.FixtureRequest) -> Ports:
    if request.param == "fake":
        settings = Settings().replace(**CONTRACT)
        fakes = FakeSystem.like(settings)
        return Ports(
            fakes.payments,
            fakes.idempotency,
            fakes.topic,
            fakes.queue,
            fakes.dlq,
            settings,
            fakes.clock,
            fakes.velocity,
        )
    # Fresh, uniquely named tables, topic and queues on the emulator for this test.
    real: Resources = request.getfixturevalue("resources")
    idempotency: Any = real.service.idempotency
    velocity: Any = real.service.velocity
    return Ports(
        real.payments,
        idempotency,
        real.events,
        real.queue,
        real.dlq,
        real.clients.settings,
        None,
        velocity,
        real,
    )
