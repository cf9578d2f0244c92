"""Dead letters: list what is in the DLQ (and why, when we can tell), move it back.

``paysys dlq list`` peeks (each message is received, then made visible again at once);
``paysys dlq redrive`` sends each batch back to the main queue with its attributes and only
then deletes what was sent from the DLQ, so a crash in between duplicates, never loses.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from paysys.adapters.aws import translated
from paysys.adapters.sqs import SqsQueue, queue_message
from paysys.core.domain import PaymentCreated
from paysys.core.ports import PaymentRepository, QueueMessage
from paysys.errors import MalformedMessage, PaymentNotFound

if TYPE_CHECKING:
    from types_aiobotocore_sqs.client import SQSClient
    from types_aiobotocore_sqs.type_defs import MessageTypeDef

PEEK_SECONDS = 30


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


async def _drain(sqs: SQSClient, queue_url: str, limit: int) -> AsyncIterator[list[MessageTypeDef]]:
    """Receive up to ``limit`` messages in batches, hiding each for PEEK_SECONDS so none
    repeats."""
    seen = 0
    while seen < limit:
        async with translated("SQS", "ReceiveMessage"):
            response = await sqs.receive_message(
                QueueUrl=queue_url,
                MaxNumberOfMessages=min(10, limit - seen),
                WaitTimeSeconds=1,
                VisibilityTimeout=PEEK_SECONDS,
                MessageAttributeNames=["All"],
                MessageSystemAttributeNames=["All"],
            )
        messages = response.get("Messages", [])
        if not messages:
            return
        seen += len(messages)
        yield messages


async def list_dead_letters(
    sqs: SQSClient, dlq_url: str, payments: PaymentRepository, limit: int = 1000
) -> list[DeadLetter]:
    found: list[DeadLetter] = []
    peeked: list[QueueMessage] = []
    async for batch in _drain(sqs, dlq_url, limit):
        peeked.extend(queue_message(m) for m in batch)
        found.extend([await _explain(m, payments) for m in batch])
    await SqsQueue(sqs, dlq_url).change_visibility(peeked, 0)  # visible again
    return found


async def redrive(sqs: SQSClient, dlq_url: str, queue_url: str, limit: int = 1000) -> int:
    """Per batch: send to the main queue, then delete from the DLQ only what was sent."""
    dlq = SqsQueue(sqs, dlq_url)
    moved = 0
    async for batch in _drain(sqs, dlq_url, limit):
        async with translated("SQS", "SendMessageBatch"):
            response = await sqs.send_message_batch(
                QueueUrl=queue_url,
                Entries=[
                    {
                        "Id": str(i),
                        "MessageBody": m.get("Body", ""),
                        "MessageAttributes": m.get("MessageAttributes", {}),
                    }
                    for i, m in enumerate(batch)
                ],
            )
        sent = [queue_message(batch[int(ok["Id"])]) for ok in response.get("Successful", [])]
        await dlq.delete(sent)
        moved += len(sent)
    return moved


async def _explain(message: MessageTypeDef, payments: PaymentRepository) -> DeadLetter:
    attributes = message.get("Attributes", {})
    payment_id: str | None = None
    try:
        event = PaymentCreated.from_message(message.get("Body", ""))
        payment_id = event.payment_id
        payment = await payments.get(event.payment_id)
        reason = f"payment is {payment.status.value}"
    except MalformedMessage as exc:
        reason = f"malformed: {exc}"
    except PaymentNotFound:
        reason = "unknown payment"
    return DeadLetter(
        message_id=message["MessageId"],
        receive_count=int(attributes.get("ApproximateReceiveCount", "0")),
        sent_at_ms=int(attributes.get("SentTimestamp", "0")),
        payment_id=payment_id,
        reason=reason,
    )
