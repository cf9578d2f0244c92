"""In-memory fakes of every port in ``paysys.core.ports``, for unit tests that run in seconds.

They keep the contract of the real adapters (``tests/contract`` runs one suite against both):
conditional writes, idempotency leases and TTL, raw SNS -> SQS delivery, visibility timeouts,
redelivery with the receive count raised and the move to a DLQ after ``max_receive_count``.

Time: everything that DynamoDB and SQS decide by the clock (visibility, sent timestamps) reads
a ``FakeClock`` that a test advances, so nothing sleeps. A long poll's ``wait_seconds`` is the
one real wait: it ends early as soon as a message can be received.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from paysys.config import Settings
from paysys.core.queries import StatusReader
from paysys.core.service import PaymentService
from paysys.runtime.resources import layout

from .clock import START, FakeClock
from .dynamodb import FakeIdempotency, FakeLeases, FakePayments, FakeVelocity
from .sns import FakeTopic
from .sqs import FakeQueue
from .wrappers import CountingQueue, HeldPayments, Outage

__all__ = [
    "START",
    "CountingQueue",
    "FakeClock",
    "FakeIdempotency",
    "FakeLeases",
    "FakePayments",
    "FakeQueue",
    "FakeSystem",
    "FakeTopic",
    "FakeVelocity",
    "HeldPayments",
    "Outage",
]


@dataclass
class FakeSystem:
    """The ports wired as ``open_resources`` wires the real ones: the topic delivers to the
    queue, the queue dead-letters into the DLQ, every fake reads one clock."""

    clock: FakeClock = field(default_factory=FakeClock)
    visibility_timeout: int = 30
    max_receive_count: int = 5
    payments: FakePayments = field(default_factory=FakePayments)
    idempotency: FakeIdempotency = field(default_factory=FakeIdempotency)
    leases: FakeLeases = field(default_factory=FakeLeases)
    velocity: FakeVelocity = field(default_factory=FakeVelocity)
    dlq: FakeQueue = field(init=False)
    queue: FakeQueue = field(init=False)
    topic: FakeTopic = field(init=False)
    outcomes_queue: FakeQueue = field(init=False)  # a subscriber of the outcomes topic
    outcomes: FakeTopic = field(init=False)

    @classmethod
    def like(cls, settings: Settings, clock: FakeClock | None = None) -> FakeSystem:
        """Fakes configured as ``provision`` and ``open_resources`` configure the real ports."""
        return cls(
            clock=clock or FakeClock(),
            payments=FakePayments(layout(settings)),
            visibility_timeout=settings.visibility_timeout_seconds,
            max_receive_count=settings.max_receive_count,
            idempotency=FakeIdempotency(
                settings.idempotency_ttl_seconds, settings.idempotency_lock_seconds
            ),
        )

    def __post_init__(self) -> None:
        self.dlq = FakeQueue(self.clock)
        self.queue = FakeQueue(
            self.clock,
            visibility_timeout=self.visibility_timeout,
            max_receive_count=self.max_receive_count,
            dlq=self.dlq,
        )
        self.topic = FakeTopic(self.queue)
        self.outcomes_queue = FakeQueue(self.clock)
        self.outcomes = FakeTopic(self.outcomes_queue)

    def service(self, **ports: Any) -> PaymentService:
        """The service over these fakes; ``ports`` replaces some (e.g. with an ``Outage``)."""
        wired: dict[str, Any] = {
            "payments": self.payments,
            "events": self.topic,
            "idempotency": self.idempotency,
            "clock": self.clock.now,
            "velocity": self.velocity,
            "outcomes": self.outcomes,
        }
        return PaymentService(**(wired | ports))

    def status(self) -> StatusReader:
        return StatusReader(self.payments, self.queue, self.dlq, now=self.clock.now)
