"""Ports: what the service and the worker need from the outside world."""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from paysys.core.domain import Payment, PaymentCreated, PaymentStatus
from paysys.core.outcomes import PaymentOutcome
from paysys.core.velocity import VelocityWindow


@dataclass(frozen=True, slots=True)
class Due:
    """A payment not yet final whose reconcile time has come (from the sparse pending index)."""

    payment_id: str
    due_at: datetime
    created_at: datetime


@dataclass(frozen=True, slots=True)
class ListPosition:
    """Where a newest-first listing of one merchant goes on: the month bucket, and the sort key
    of the last payment examined in it (None: the month's newest)."""

    month: str
    after: str | None = None


@dataclass(frozen=True, slots=True)
class ListPage:
    payments: list[Payment]
    next: ListPosition | None  # None: nothing older


@dataclass(frozen=True, slots=True)
class Counts:
    by_status: dict[PaymentStatus, int]
    first_month: str | None  # the merchant's oldest month bucket; None: no payment yet


class PaymentRepository(Protocol):
    async def add(self, payment: Payment, token: str = "") -> bool:
        """Store a new payment (and count it) in one conditional put that records ``token``:
        True if stored by this token (by this call, or by an earlier call with the same token
        whose reply was lost: counted once), False if another request stored that id."""

    async def get(self, payment_id: str) -> Payment:
        """Return the payment or raise ``PaymentNotFound``."""

    async def transition(
        self,
        payment_id: str,
        to: PaymentStatus,
        now: datetime,
        reason: str | None = None,
        token: str = "",
    ) -> Payment | None:
        """Move ``Pending → to`` (a final state; ``reason`` only with ``Declined``) in one
        conditional write (condition: status is Pending) that leaves the pending index,
        enters the outbox index (for a caller that holds no other durable reminder to
        publish the outcome: a cancel) and records ``token``, then count it. Returns the
        payment as moved by this ``token``: by this call, or by an earlier call with the same
        token whose reply was lost (its move is counted now, and may be to another state:
        the stored one is returned); None if another writer made it final (a race another
        transition won); ``PaymentNotFound`` if there is no such payment."""

    async def decide(
        self,
        created: PaymentCreated,
        to: PaymentStatus,
        now: datetime,
        reason: str | None = None,
        token: str = "",
    ) -> PaymentOutcome | None:
        """A worker's decision of ``created``'s payment: ``transition`` without the outbox
        mark (the event's SQS message, deleted only after the outcome is published, is the
        reminder; ``mark_outbox`` when the publish fails), asking nothing back from the
        store. The outcome (and the count) is built from ``created``, whose fields never
        change after creation, and the values written. A retry whose earlier write committed
        with its reply lost is recognised by ``token`` (read back whole: the stored outcome,
        maybe of another state; counted now); None if another writer made it final (a
        duplicate delivery, or a race); ``PaymentNotFound`` if there is no such payment."""

    async def due(self, shard: int, now: datetime, limit: int) -> list[Due]:
        """Payments of one pending-index shard whose ``due_at`` is before ``now``, earliest
        first (``limit`` at most)."""

    async def claim(self, due: Due, next_due: datetime) -> Payment | None:
        """Move ``due`` to ``next_due`` if nobody did since it was read (a conditional write)
        and it is still not final; the payment if this call claimed it, else None. A retry
        of the same claim (same ``next_due``) whose first try committed claims it too."""

    async def outbox(self, shard: int, now: datetime, limit: int) -> list[Due]:
        """Final payments of one outbox shard whose outcome event may not be published yet
        (marked by the transition, ``due_at`` = when to look), earliest first."""

    async def claim_outbox(self, due: Due, next_due: datetime) -> Payment | None:
        """Move the outbox mark to ``next_due`` if nobody did since it was read (or a retry of
        this same claim did); the payment if this call claimed it (then publish its outcome),
        else None."""

    async def clear_outbox(self, payment_id: str) -> None:
        """Its outcome event was published: leave the outbox index."""

    async def mark_outbox(self, payment_id: str, now: datetime) -> None:
        """Enter the outbox index (due after the reconcile window): the outcome of a final
        payment could not be published now. Safe to repeat; ``PaymentNotFound`` if absent."""

    async def page(
        self,
        merchant_id: str,
        position: ListPosition,
        limit: int,
        oldest_month: str,
        status: PaymentStatus | None = None,
    ) -> ListPage:
        """Up to ``limit`` of the merchant's payments (with ``status``, if given), newest
        first, from ``position`` back to ``oldest_month``. Reads O(limit + shards) items
        (a few times more with a status filter), whatever the table holds."""

    async def counts(self, merchant_id: str) -> Counts:
        """The merchant's payments by status, from its counter item (one read; as of the
        last rollup of the counts journal, at most ~10 s behind)."""

    async def platform_counts(self) -> Counts:
        """Every merchant's payments by status (a read per rollup shard; as behind)."""

    async def ping(self) -> None:
        """Raise ``BackendUnavailable`` unless the table answers."""


class VelocityStore(Protocol):
    async def take(self, window: VelocityWindow) -> bool:
        """Make the window's tries in order, each one all-or-nothing (every part added, or
        none if any passes its item's caps), atomically for every worker, until one takes:
        True if one took (by this call, or by an earlier call whose reply was lost: a try's
        token is applied once), False if every try was refused (the limit is reached)."""


class LeaseStore(Protocol):
    async def acquire(self, name: str, owner: str, now: datetime, seconds: float) -> bool:
        """Hold ``name`` for ``seconds`` unless another owner holds it (a conditional write)."""


class Event(Protocol):
    """What a publisher sends: ``PaymentCreated`` or a ``PaymentOutcome``."""

    @property
    def event_type(self) -> str: ...

    @property
    def merchant_id(self) -> str: ...

    def routing_attributes(self) -> Mapping[str, str]:
        """Attributes beyond type, merchant and correlation id that subscriptions filter on."""

    def to_message(self) -> str: ...


class EventPublisher(Protocol):
    async def publish(self, event: Event, correlation_id: str) -> str:
        """Publish the event with attributes ``event_type``, ``merchant_id``,
        ``correlation_id`` and the current trace context (the adapter injects it: the core
        knows no tracing); return the broker's message id."""

    async def submit(self, event: Event, correlation_id: str) -> None:
        """Queue the event as ``publish`` would and return without waiting for the broker:
        for a caller whose event a later process makes good if it is lost (the reconciler
        republishes a payment's ``PaymentCreated``). Raises ``BackendUnavailable`` only when
        it cannot even be queued; a later failure is the adapter's to log and count."""

    async def ping(self) -> None: ...


class ClaimState(enum.StrEnum):
    NEW = "new"  # first time this key is seen: go ahead
    RESUMED = "resumed"  # an earlier holder died mid-way: finish its work, same payment id
    DONE = "done"  # finished before: replay the payment (as it is stored now)


@dataclass(frozen=True, slots=True)
class Claim:
    state: ClaimState
    payment_id: str


class IdempotencyStore(Protocol):
    async def claim(
        self, key: str, fingerprint: str, payment_id: str, now: datetime, owner: str = ""
    ) -> Claim:
        """Take the key for this request (``owner``: its token; a retry of the same claim
        whose reply was lost is still its own), or raise ``IdempotencyKeyReused`` (other
        body) / ``IdempotencyConflict`` (a live request holds it)."""

    async def complete(self, key: str, now: datetime) -> None:
        """The key's payment is stored: a later claim with it is ``DONE`` (the record keeps
        the payment id, not the response: a replay reads the payment); its TTL runs from
        ``now``. Setting the same values again is harmless (a retry)."""

    async def release(self, key: str, owner: str = "") -> None:
        """End an unfinished claim's lease so a retry resumes it at once, same payment id;
        only while ``owner`` still holds it (an overtaken request leaves the new lease)."""


@dataclass(frozen=True, slots=True)
class QueueMessage:
    message_id: str
    receipt_handle: str
    body: str
    receive_count: int
    correlation_id: str | None
    traceparent: str | None = None
    sent_at_ms: int = 0
    # String message attributes as sent (event type, correlation id, trace context).
    attributes: dict[str, str] = field(default_factory=dict)


class MessageQueue(Protocol):
    async def receive(
        self, max_messages: int, wait_seconds: int, visibility_seconds: int | None = None
    ) -> list[QueueMessage]:
        """Long-poll for up to ``max_messages``; each stays hidden from other consumers for
        ``visibility_seconds`` (the queue's own timeout when None), then comes back with its
        receive count raised unless deleted."""

    async def send(self, messages: Sequence[QueueMessage]) -> list[QueueMessage]:
        """Send copies (body and attributes) of ``messages``; return those that were sent."""

    async def delete(self, messages: Sequence[QueueMessage]) -> None:
        """Acknowledge messages (batched); failures are logged, never raised for one entry."""

    async def change_visibility(self, messages: Sequence[QueueMessage], seconds: int) -> None:
        """Batched: 0 hands messages back at once; more extends the time we hold them."""

    async def depth(self) -> tuple[int, int]:
        """(visible, in flight) messages, approximately."""

    async def ping(self) -> None: ...
