"""Ports: what the service and the worker need from the outside world."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from paysys.domain import Payment, PaymentCreated


class PaymentRepository(Protocol):
    async def add(self, payment: Payment) -> None:
        """Store a new payment; never overwrites one with the same id."""

    async def get(self, payment_id: str) -> Payment:
        """Return the payment or raise ``PaymentNotFound``."""

    async def approve(self, payment_id: str, now: datetime) -> bool:
        """Move ``Pending → Approved`` atomically. True if this call approved it, False if it
        was already approved; ``PaymentNotFound`` if there is no such payment."""

    async def ping(self) -> None:
        """Raise ``BackendUnavailable`` unless the table answers."""


class EventPublisher(Protocol):
    async def publish(self, event: PaymentCreated, correlation_id: str) -> str:
        """Publish the event; return the broker's message id."""

    async def ping(self) -> None: ...


@dataclass(frozen=True, slots=True)
class QueueMessage:
    message_id: str
    receipt_handle: str
    body: str
    receive_count: int
    correlation_id: str | None


class MessageQueue(Protocol):
    async def receive(self, max_messages: int, wait_seconds: int) -> list[QueueMessage]: ...

    async def delete(self, messages: Sequence[QueueMessage]) -> None:
        """Acknowledge messages (batched); failures are logged, never raised for one entry."""

    async def release(self, messages: Sequence[QueueMessage]) -> None:
        """Make messages visible again at once (visibility 0)."""

    async def ping(self) -> None: ...
