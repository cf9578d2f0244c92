"""Queueing a webhook delivery again (``POST /webhook-deliveries/{id}/retry``).

One message on the delivery queue, naming the endpoint (as the worker's fan-out copies do) and
the attempts made so far (so the history's numbering goes on). The worker delivers it like
any other: signed, on the retry schedule, within a new retry window. Sending twice (a retry
of the request after a lost reply) delivers twice; merchants de-duplicate by
``Paysys-Event-Id``, as for any delivery.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from paysys.adapters.aws import translated
from paysys.adapters.sqs import SqsQueue
from paysys.core.deliveries import ATTEMPTS_ATTRIBUTE, TARGET_ATTRIBUTE
from paysys.core.ports import QueueMessage
from paysys.errors import BackendUnavailable

if TYPE_CHECKING:
    from types_aiobotocore_sqs.client import SQSClient


class WebhookRedelivery:
    def __init__(self, sqs: SQSClient, queue_name: str) -> None:
        self._sqs = sqs
        self._queue_name = queue_name
        self._queue: SqsQueue | None = None  # looked up at the first retry

    async def send(
        self, body: str, endpoint_id: str, attempts: int, correlation_id: str | None
    ) -> None:
        """Queue ``body`` for ``endpoint_id``; ``BackendUnavailable`` when it may not be."""
        attributes = {TARGET_ATTRIBUTE: endpoint_id, ATTEMPTS_ATTRIBUTE: str(attempts)}
        if correlation_id:
            attributes["correlation_id"] = correlation_id
        message = QueueMessage(
            message_id="",
            receipt_handle="",
            body=body,
            receive_count=0,
            correlation_id=correlation_id,
            attributes=attributes,
        )
        if not await (await self._lookup()).send([message]):
            raise BackendUnavailable("the delivery queue did not take the message")

    async def _lookup(self) -> SqsQueue:
        if self._queue is None:
            async with translated("SQS", "GetQueueUrl"):
                response = await self._sqs.get_queue_url(QueueName=self._queue_name)
            self._queue = SqsQueue(self._sqs, response["QueueUrl"])
        return self._queue
