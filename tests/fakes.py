"""In-memory fakes of every port in ``paysys.core.ports``, for unit tests that run in seconds.

They keep the contract of the real adapters (``tests/contract`` runs one suite against both):
conditional writes, idempotency leases and TTL, raw SNS -> SQS delivery, visibility timeouts,
redelivery with the receive count raised and the move to a DLQ after ``max_receive_count``.

Time: everything that DynamoDB and SQS decide by the clock (visibility, sent timestamps) reads
a ``FakeClock`` that a test advances, so nothing sleeps. A long poll's ``wait_seconds`` is the
one real wait: it ends early as soon as a message can be received.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import json
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog

from paysys.config import Settings
from paysys.core.domain import EVENT_TYPE, Payment, PaymentCreated, PaymentStatus
from paysys.core.ports import Claim, ClaimState, QueueMessage
from paysys.core.queries import StatusReader
from paysys.core.service import PaymentService
from paysys.errors import (
    BackendUnavailable,
    IdempotencyConflict,
    IdempotencyKeyReused,
    PaymentNotFound,
)

log = structlog.get_logger(__name__)

START = datetime(2026, 1, 1, tzinfo=UTC)


class FakeClock:
    """Wall-clock time that moves only when a test says so."""

    def __init__(self, start: datetime = START) -> None:
        self._now = start
        self._listeners: list[Callable[[], None]] = []

    def now(self) -> datetime:
        return self._now

    def time(self) -> float:
        return self._now.timestamp()

    def advance(self, seconds: float) -> None:
        self._now += timedelta(seconds=seconds)
        for wake in self._listeners:
            wake()

    def on_advance(self, wake: Callable[[], None]) -> None:
        self._listeners.append(wake)


# --- DynamoDB ------------------------------------------------------------------------------


class FakePayments:
    """PaymentRepository: one dict, with DynamoDB's conditional put and update."""

    def __init__(self) -> None:
        self._items: dict[str, Payment] = {}

    async def add(self, payment: Payment) -> bool:
        if payment.id in self._items:
            return False
        self._items[payment.id] = payment
        return True

    async def get(self, payment_id: str) -> Payment:
        try:
            return self._items[payment_id]
        except KeyError:
            raise PaymentNotFound(payment_id) from None

    async def approve(self, payment_id: str, now: datetime) -> bool:
        current = await self.get(payment_id)
        if current.status is PaymentStatus.APPROVED:
            return False
        self._items[payment_id] = dataclasses.replace(
            current, status=PaymentStatus.APPROVED, approved_at=now, updated_at=now
        )
        return True

    async def pending_before(self, cutoff: datetime, limit: int) -> list[Payment]:
        stale = [p for p in self._by_status(PaymentStatus.PENDING) if p.created_at < cutoff]
        return stale[:limit]

    async def recent(self, status: PaymentStatus, limit: int) -> list[Payment]:
        return self._by_status(status)[::-1][:limit]

    async def count(self, status: PaymentStatus) -> int:
        return len(self._by_status(status))

    async def ping(self) -> None:
        pass

    def _by_status(self, status: PaymentStatus) -> list[Payment]:
        """Oldest first, as the status index orders them."""
        matching = (p for p in self._items.values() if p.status is status)
        return sorted(matching, key=lambda p: p.created_at)


@dataclass
class _Key:
    fingerprint: str
    payment_id: str
    locked_until: int
    expires_at: int
    response: str | None = None  # set once done (stored as JSON text, as DynamoDB holds it)


@dataclass
class FakeIdempotency:
    """IdempotencyStore: claims are leases of ``lock_seconds``, records live ``ttl_seconds``.
    Times are whole epoch seconds, as the DynamoDB store keeps them."""

    ttl_seconds: int = 86_400
    lock_seconds: int = 30
    _keys: dict[str, _Key] = field(default_factory=dict)

    async def claim(self, key: str, fingerprint: str, payment_id: str, now: datetime) -> Claim:
        epoch = int(now.timestamp())
        held = self._keys.get(key)
        if held is None or held.expires_at < epoch:  # an expired record counts as absent
            self._keys[key] = _Key(
                fingerprint, payment_id, epoch + self.lock_seconds, epoch + self.ttl_seconds
            )
            return Claim(ClaimState.NEW, payment_id)
        if held.fingerprint != fingerprint:
            raise IdempotencyKeyReused(
                "this Idempotency-Key was used with a different request body"
            )
        if held.response is not None:
            return Claim(ClaimState.DONE, held.payment_id, json.loads(held.response))
        if held.locked_until > epoch:
            raise IdempotencyConflict("a request with this Idempotency-Key is in progress")
        held.locked_until = epoch + self.lock_seconds
        return Claim(ClaimState.RESUMED, held.payment_id)

    async def complete(self, key: str, response: dict[str, Any], now: datetime) -> None:
        held = self._keys[key]
        held.response = json.dumps(response)
        held.expires_at = int(now.timestamp()) + self.ttl_seconds

    async def release(self, key: str) -> None:
        held = self._keys.get(key)
        if held is not None and held.response is None:
            held.locked_until = 0


# --- SQS -----------------------------------------------------------------------------------


@dataclass
class _Stored:
    message_id: str
    body: str
    attributes: dict[str, str]
    sent_at_ms: int
    receive_count: int = 0
    visible_at: float = 0.0
    handles: set[str] = field(default_factory=set)


class FakeQueue:
    """MessageQueue: visibility timeouts on the clock, redelivery, and the DLQ move.

    Like SQS, a message received ``max_receive_count`` times moves to ``dlq`` on the next
    receive that finds it visible; deleting through any receipt handle the message ever had
    works, and deleting one already deleted is silent (what moto does)."""

    def __init__(
        self,
        clock: FakeClock,
        *,
        visibility_timeout: int = 30,
        max_receive_count: int | None = None,
        dlq: FakeQueue | None = None,
    ) -> None:
        self._clock = clock
        self._visibility_timeout = visibility_timeout
        self._max_receive_count = max_receive_count
        self._dlq = dlq
        self._messages: dict[str, _Stored] = {}
        self._gone: set[str] = set()  # receipt handles of deleted messages
        self._changed = asyncio.Event()
        self._handles = (f"handle-{n}" for n in itertools.count(1))
        self.deletes: list[list[str]] = []  # message ids of each delete call, in order
        clock.on_advance(self._wake)

    async def receive(
        self, max_messages: int, wait_seconds: int, visibility_seconds: int | None = None
    ) -> list[QueueMessage]:
        visibility = self._visibility_timeout if visibility_seconds is None else visibility_seconds
        await asyncio.sleep(0)  # a call to SQS always yields to the loop, even with nothing to wait
        try:
            async with asyncio.timeout(wait_seconds):
                while not (taken := self._take(max_messages, visibility)) and wait_seconds:
                    await self._changed.wait()
        except TimeoutError:
            taken = []
        return taken

    async def send(self, messages: Sequence[QueueMessage]) -> list[QueueMessage]:
        for message in messages:
            self.deliver(message.body, message.attributes)
        return list(messages)

    async def delete(self, messages: Sequence[QueueMessage]) -> None:
        self.deletes.append([m.message_id for m in messages])
        for message in messages:
            stored = self._holding(message)
            if stored is not None:
                del self._messages[stored.message_id]
                self._gone |= stored.handles
            elif message.receipt_handle not in self._gone:
                log.warning("sqs.delete_failed", message_id=message.message_id, reason="invalid")

    async def change_visibility(self, messages: Sequence[QueueMessage], seconds: int) -> None:
        for message in messages:
            stored = self._holding(message)
            if stored is None:
                log.warning("sqs.visibility_failed", message_id=message.message_id)
            else:
                stored.visible_at = self._clock.time() + seconds
        self._wake()

    async def depth(self) -> tuple[int, int]:
        now = self._clock.time()
        visible = sum(1 for m in self._messages.values() if m.visible_at <= now)
        return visible, len(self._messages) - visible

    async def ping(self) -> None:
        pass

    def deliver(self, body: str, attributes: dict[str, str]) -> str:
        """Enqueue one message (what SendMessage or an SNS delivery does); its id."""
        message_id = str(uuid.uuid4())
        sent_at_ms = int(self._clock.time() * 1000)
        self._arrive(_Stored(message_id, body, dict(attributes), sent_at_ms))
        return message_id

    def _arrive(self, stored: _Stored) -> None:
        stored.visible_at = self._clock.time()
        self._messages[stored.message_id] = stored
        self._wake()

    def _take(self, max_messages: int, visibility: int) -> list[QueueMessage]:
        now = self._clock.time()
        taken: list[QueueMessage] = []
        for stored in list(self._messages.values()):
            if len(taken) == max_messages:
                break
            if stored.visible_at > now:
                continue
            if self._dead(stored):
                continue
            stored.receive_count += 1
            stored.visible_at = now + visibility
            handle = next(self._handles)
            stored.handles.add(handle)
            taken.append(_received(stored, handle))
        return taken

    def _dead(self, stored: _Stored) -> bool:
        """Move a message that has used up its receives to the DLQ."""
        limit = self._max_receive_count
        if self._dlq is None or limit is None or stored.receive_count < limit:
            return False
        del self._messages[stored.message_id]
        self._dlq._arrive(stored)  # one fake handing a message to its sibling
        return True

    def _holding(self, message: QueueMessage) -> _Stored | None:
        return next(
            (m for m in self._messages.values() if message.receipt_handle in m.handles), None
        )

    def _wake(self) -> None:
        """Tell every waiting receive to look again (each waits on the event it saw)."""
        self._changed.set()
        self._changed = asyncio.Event()


def _received(stored: _Stored, handle: str) -> QueueMessage:
    return QueueMessage(
        message_id=stored.message_id,
        receipt_handle=handle,
        body=stored.body,
        receive_count=stored.receive_count,
        correlation_id=stored.attributes.get("correlation_id"),
        traceparent=stored.attributes.get("traceparent"),
        sent_at_ms=stored.sent_at_ms,
        attributes=dict(stored.attributes),
    )


# --- SNS -----------------------------------------------------------------------------------


class FakeTopic:
    """EventPublisher: raw delivery of each event to every subscribed queue."""

    def __init__(self, *subscribers: FakeQueue) -> None:
        self.subscribers = list(subscribers)
        self.published: list[PaymentCreated] = []

    async def publish(
        self, event: PaymentCreated, correlation_id: str, traceparent: str | None = None
    ) -> str:
        attributes = {"event_type": EVENT_TYPE, "correlation_id": correlation_id}
        if traceparent:
            attributes["traceparent"] = traceparent
        if not all(attributes.values()):  # SNS refuses an empty attribute value
            raise BackendUnavailable("SNS Publish failed: InvalidParameterValue")
        for queue in self.subscribers:
            queue.deliver(event.to_message(), attributes)
        self.published.append(event)
        return str(uuid.uuid4())

    async def ping(self) -> None:
        pass


# --- failures and wiring -------------------------------------------------------------------


class Outage:
    """Wraps a port: while ``down``, the named methods (all when none are named) raise
    ``BackendUnavailable`` instead of answering, and the call is noted in ``refused``."""

    def __init__(self, port: Any, *methods: str) -> None:
        self.port = port
        self.methods = set(methods)
        self.down = True
        self.refused: list[tuple[str, tuple[Any, ...]]] = []  # (method, arguments) refused

    def __getattr__(self, name: str) -> Any:
        answer = getattr(self.port, name)
        if not self.down or (self.methods and name not in self.methods):
            return answer

        async def unavailable(*args: Any, **_: Any) -> Any:
            self.refused.append((name, args))
            raise BackendUnavailable(f"{type(self.port).__name__}.{name}: backend down")

        return unavailable

    @contextlib.contextmanager
    def restored(self) -> Iterator[None]:
        self.down = False
        try:
            yield
        finally:
            self.down = True


class CountingQueue:
    """Wraps a queue (fake or real): ``receiving`` counts the receive calls in progress, so a
    test can wait until its loops are inside their long polls instead of sleeping."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.receiving = 0

    async def receive(self, *args: Any, **kwargs: Any) -> list[QueueMessage]:
        self.receiving += 1
        try:
            return list(await self.inner.receive(*args, **kwargs))
        finally:
            self.receiving -= 1

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class HeldPayments:
    """Wraps a repository: ``approve`` waits while ``held`` (and ``delay`` seconds more), and
    counts how many approvals run at once (``running``, ``peak``)."""

    def __init__(self, inner: Any, *, held: bool = False, delay: float = 0.0) -> None:
        self.inner = inner
        self.delay = delay
        self.released = asyncio.Event()
        if not held:
            self.released.set()
        self.running = 0
        self.peak = 0

    async def approve(self, payment_id: str, now: datetime) -> bool:
        self.running += 1
        self.peak = max(self.peak, self.running)
        try:
            await self.released.wait()
            await asyncio.sleep(self.delay)
            return bool(await self.inner.approve(payment_id, now))
        finally:
            self.running -= 1

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


@dataclass
class FakeSystem:
    """The ports wired as ``open_resources`` wires the real ones: the topic delivers to the
    queue, the queue dead-letters into the DLQ, every fake reads one clock."""

    clock: FakeClock = field(default_factory=FakeClock)
    visibility_timeout: int = 30
    max_receive_count: int = 5
    payments: FakePayments = field(default_factory=FakePayments)
    idempotency: FakeIdempotency = field(default_factory=FakeIdempotency)
    dlq: FakeQueue = field(init=False)
    queue: FakeQueue = field(init=False)
    topic: FakeTopic = field(init=False)

    @classmethod
    def like(cls, settings: Settings, clock: FakeClock | None = None) -> FakeSystem:
        """Fakes configured as ``provision`` and ``open_resources`` configure the real ports."""
        return cls(
            clock=clock or FakeClock(),
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

    def service(self, **ports: Any) -> PaymentService:
        """The service over these fakes; ``ports`` replaces some (e.g. with an ``Outage``)."""
        wired: dict[str, Any] = {
            "payments": self.payments,
            "events": self.topic,
            "idempotency": self.idempotency,
            "clock": self.clock.now,
        }
        return PaymentService(**(wired | ports))

    def status(self) -> StatusReader:
        return StatusReader(self.payments, self.queue, self.dlq)
