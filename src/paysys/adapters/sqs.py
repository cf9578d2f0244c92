"""MessageQueue over SQS (aiobotocore): long-poll receive, batched delete and release."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import structlog

from paysys.adapters.aws import translated
from paysys.core.ports import QueueMessage
from paysys.observability import tracing

if TYPE_CHECKING:
    from types_aiobotocore_sqs.client import SQSClient
    from types_aiobotocore_sqs.type_defs import (
        BatchResultErrorEntryTypeDef,
        MessageTypeDef,
        ReceiveMessageRequestTypeDef,
    )

log = structlog.get_logger(__name__)

SQS_BATCH_LIMIT = 10


@dataclass(frozen=True, slots=True)
class SqsQueue:
    client: SQSClient
    queue_url: str

    async def receive(
        self, max_messages: int, wait_seconds: int, visibility_seconds: int | None = None
    ) -> list[QueueMessage]:
        request: ReceiveMessageRequestTypeDef = {
            "QueueUrl": self.queue_url,
            "MaxNumberOfMessages": max_messages,
            "WaitTimeSeconds": wait_seconds,
            "MessageAttributeNames": ["All"],
            "MessageSystemAttributeNames": ["ApproximateReceiveCount", "SentTimestamp"],
        }
        if visibility_seconds is not None:
            request["VisibilityTimeout"] = visibility_seconds
        began_ns = time.time_ns()
        # Recorded per message delivered, in its own trace: an idle long poll is no one's.
        async with translated("SQS", "ReceiveMessage", traced=False):
            response = await self.client.receive_message(**request)
        messages = [queue_message(m) for m in response.get("Messages", [])]
        if messages and tracing.recording():
            delivered = [(m.attributes, m.sent_at_ms) for m in messages]
            tracing.received("SQS", "ReceiveMessage", delivered, began_ns)
        return messages

    async def send(self, messages: Sequence[QueueMessage]) -> list[QueueMessage]:
        sent: list[QueueMessage] = []
        for chunk in _chunks(messages):
            async with translated("SQS", "SendMessageBatch"):
                response = await self.client.send_message_batch(
                    QueueUrl=self.queue_url,
                    Entries=[
                        {
                            "Id": str(i),
                            "MessageBody": m.body,
                            "MessageAttributes": {
                                name: {"DataType": "String", "StringValue": value}
                                for name, value in m.attributes.items()
                            },
                        }
                        for i, m in enumerate(chunk)
                    ],
                )
            _log_failures("sqs.send_failed", chunk, response.get("Failed", []))
            sent.extend(chunk[int(ok["Id"])] for ok in response.get("Successful", []))
        return sent

    async def delete(self, messages: Sequence[QueueMessage]) -> None:
        for chunk in _chunks(messages):
            async with translated("SQS", "DeleteMessageBatch"):
                response = await self.client.delete_message_batch(
                    QueueUrl=self.queue_url,
                    Entries=[
                        {"Id": str(i), "ReceiptHandle": m.receipt_handle}
                        for i, m in enumerate(chunk)
                    ],
                )
            _log_failures("sqs.delete_failed", chunk, response.get("Failed", []))

    async def change_visibility(self, messages: Sequence[QueueMessage], seconds: int) -> None:
        for chunk in _chunks(messages):
            async with translated("SQS", "ChangeMessageVisibilityBatch"):
                response = await self.client.change_message_visibility_batch(
                    QueueUrl=self.queue_url,
                    Entries=[
                        {
                            "Id": str(i),
                            "ReceiptHandle": m.receipt_handle,
                            "VisibilityTimeout": seconds,
                        }
                        for i, m in enumerate(chunk)
                    ],
                )
            _log_failures("sqs.visibility_failed", chunk, response.get("Failed", []))

    async def depth(self) -> tuple[int, int]:
        async with translated("SQS", "GetQueueAttributes"):
            response = await self.client.get_queue_attributes(
                QueueUrl=self.queue_url,
                AttributeNames=[
                    "ApproximateNumberOfMessages",
                    "ApproximateNumberOfMessagesNotVisible",
                ],
            )
        attributes = response.get("Attributes", {})
        return (
            int(attributes.get("ApproximateNumberOfMessages", "0")),
            int(attributes.get("ApproximateNumberOfMessagesNotVisible", "0")),
        )

    async def ping(self) -> None:
        async with translated("SQS", "GetQueueAttributes"):
            await self.client.get_queue_attributes(
                QueueUrl=self.queue_url, AttributeNames=["QueueArn"]
            )


def queue_message(raw: MessageTypeDef) -> QueueMessage:
    attributes = {
        name: value["StringValue"]
        for name, value in raw.get("MessageAttributes", {}).items()
        if "StringValue" in value
    }
    system = raw.get("Attributes", {})
    return QueueMessage(
        message_id=raw["MessageId"],
        receipt_handle=raw["ReceiptHandle"],
        body=raw.get("Body", ""),
        receive_count=int(system.get("ApproximateReceiveCount", "1")),
        correlation_id=attributes.get("correlation_id"),
        traceparent=attributes.get("traceparent"),
        sent_at_ms=int(system.get("SentTimestamp", "0")),
        attributes=attributes,
    )


def _log_failures(
    event: str, chunk: Sequence[QueueMessage], failures: Sequence[BatchResultErrorEntryTypeDef]
) -> None:
    for failed in failures:
        log.warning(
            event,
            message_id=chunk[int(failed["Id"])].message_id,
            reason=failed.get("Message", failed["Code"]),
        )


def _chunks(messages: Sequence[QueueMessage]) -> list[Sequence[QueueMessage]]:
    return [messages[i : i + SQS_BATCH_LIMIT] for i in range(0, len(messages), SQS_BATCH_LIMIT)]
