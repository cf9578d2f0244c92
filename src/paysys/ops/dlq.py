"""Dead letters: list what is in the DLQ (and why, when we can tell), move it back.

Both go through the queue port. ``paysys dlq list`` peeks (each message is received, then
made visible again at once); ``paysys dlq redrive`` sends each batch back to the main queue
with its attributes and only then deletes what was sent from the DLQ, so a crash in between
duplicates, never loses.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from paysys.core.domain import PaymentCreated
from paysys.core.ports import MessageQueue, PaymentRepository, QueueMessage
from paysys.errors import MalformedMessage, PaymentNotFound

PEEK_SECONDS = 30
RECEIVE_LIMIT = 10


@dataclass(frozen=True, slots=True)
class DeadLetter:
    message_id: str
    receive_count: int
    sent_at_ms: int
    payment_id: str | None
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {
            "message_id": self.message_id,
            "receive_count": self.receive_count,
            "sent_at_ms": self.sent_at_ms,
            "payment_id": self.payment_id,
            "reason": self.reason,
        }


async def _batches(queue: MessageQueue, limit: int) -> AsyncIterator[list[QueueMessage]]:
    """Receive up to ``limit`` messages in batches, hiding each for PEEK_SECONDS so none
    repeats."""
    seen = 0
    while seen < limit:
        batch = await queue.receive(
            min(RECEIVE_LIMIT, limit - seen), 1, visibility_seconds=PEEK_SECONDS
        )
        if not batch:
            return
        seen += len(batch)
        yield batch


async def list_dead_letters(
    dlq: MessageQueue, payments: PaymentRepository, limit: int = 1000
) -> list[DeadLetter]:
    found: list[DeadLetter] = []
    peeked: list[QueueMessage] = []
    async for batch in _batches(dlq, limit):
        peeked.extend(batch)
        found.extend([await _explain(m, payments) for m in batch])
    await dlq.change_visibility(peeked, 0)  # visible again
    return found


async def redrive(dlq: MessageQueue, queue: MessageQueue, limit: int = 1000) -> int:
    """Per batch: send to the main queue, then delete from the DLQ only what was sent."""
    moved = 0
    async for batch in _batches(dlq, limit):
        sent = await queue.send(batch)
        await dlq.delete(sent)
        moved += len(sent)
    return moved


async def _explain(message: QueueMessage, payments: PaymentRepository) -> DeadLetter:
    payment_id: str | None = None
    try:
        event = PaymentCreated.from_message(message.body)
        payment_id = event.payment_id
        payment = await payments.get(event.payment_id)
        reason = f"payment is {payment.status.value}"
    except MalformedMessage as exc:
        reason = f"malformed: {exc}"
    except PaymentNotFound:
        reason = "unknown payment"
    return DeadLetter(
        message_id=message.message_id,
        receive_count=message.receive_count,
        sent_at_ms=message.sent_at_ms,
        payment_id=payment_id,
        reason=reason,
    )
