"""EventPublisher over SNS (aiobotocore), with natural batching into PublishBatch."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from paysys import tracing
from paysys.adapters.aws import translated
from paysys.core.ports import Event
from paysys.errors import BackendUnavailable

if TYPE_CHECKING:
    from types_aiobotocore_sns.client import SNSClient
    from types_aiobotocore_sns.type_defs import MessageAttributeValueTypeDef

SNS_BATCH_LIMIT = 10
# An entry waiting for a batch: the request entry, its waiter, the publisher's trace context.
_Pending = tuple[dict[str, Any], asyncio.Future[str], tracing.TraceContext]


@dataclass(slots=True)
class SnsPublisher:
    """``publish`` queues the entry and a PublishBatch (up to 10 entries) carries it: when
    no call is in flight, at once; while one is, the entries that arrive meanwhile wait for it
    and ride the next call together, and only a full batch of 10 opens another concurrent call
    (at most ``max_calls``). No timer and no added latency when idle; under moderate load
    several entries per call instead of one (each call costs CPU here and money on AWS);
    under heavy load ``max_calls`` full batches at once. At most ``max_pending`` entries wait: past
    that ``publish`` fails at once (``shed`` counts it) instead of growing without bound while
    SNS is slow; the caller has stored the payment, and the reconciler publishes it later."""

    client: SNSClient
    topic_arn: str
    max_calls: int = 4
    max_pending: int = 1000
    shed: int = 0
    failed: int = 0
    _pending: list[_Pending] = field(default_factory=list)
    _calls: int = 0
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    async def publish(self, event: Event, correlation_id: str) -> str:
        """Queue the event and wait for its batch's answer, inside its PRODUCER span. The
        event carries that span's context (``traceparent``, ``tracestate``), captured here:
        the batch call runs in another task, outside the caller's context."""
        with tracing.producer_span(f"publish {event.event_type}", self.topic_arn):
            attributes: dict[str, MessageAttributeValueTypeDef] = {
                "event_type": {"DataType": "String", "StringValue": event.event_type},
                "merchant_id": {"DataType": "String", "StringValue": event.merchant_id},
                "correlation_id": {"DataType": "String", "StringValue": correlation_id},
            }
            for name, value in tracing.carrier().items():
                attributes[name] = {"DataType": "String", "StringValue": value}
            if len(self._pending) >= self.max_pending:
                self.shed += 1
                raise BackendUnavailable(
                    f"SNS publish backlog full ({len(self._pending)} events waiting)"
                )
            done: asyncio.Future[str] = asyncio.get_running_loop().create_future()
            entry = {"Message": event.to_message(), "MessageAttributes": attributes}
            self._pending.append((entry, done, tracing.capture()))
            self._pump()
            try:
                return await done
            except BackendUnavailable:
                self.failed += 1
                raise

    def _pump(self) -> None:
        while self._pending and self._calls < self.max_calls:
            if self._calls and len(self._pending) < SNS_BATCH_LIMIT:
                return  # a partial batch waits for the call in flight, and fills meanwhile
            batch = self._pending[:SNS_BATCH_LIMIT]
            del self._pending[:SNS_BATCH_LIMIT]
            self._calls += 1
            task = asyncio.create_task(self._send(batch))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _send(self, batch: list[_Pending]) -> None:
        """One PublishBatch: its span continues the first entry's trace, linked to the rest."""
        try:
            entries: list[Any] = [{"Id": str(i), **e} for i, (e, _, _) in enumerate(batch)]
            contexts = [c for _, _, c in batch]
            async with translated("SNS", "PublishBatch", parent=contexts[0], linked=contexts[1:]):
                response = await self.client.publish_batch(
                    TopicArn=self.topic_arn, PublishBatchRequestEntries=entries
                )
            for ok in response.get("Successful", []):
                fut = batch[int(ok["Id"])][1]
                if not fut.done():
                    fut.set_result(ok.get("MessageId", ""))
            for failed in response.get("Failed", []):
                fut = batch[int(failed["Id"])][1]
                if not fut.done():
                    fut.set_exception(BackendUnavailable(f"SNS Publish failed: {failed['Code']}"))
        except Exception as exc:  # noqa: BLE001 - handed to every waiter
            for _, fut, _ in batch:
                if not fut.done():
                    fut.set_exception(exc)
        finally:
            for _, fut, _ in batch:  # cancelled mid-call, or an entry the answer did not name
                if not fut.done():
                    fut.set_exception(BackendUnavailable("SNS PublishBatch was interrupted"))
            self._calls -= 1
            self._pump()

    async def ping(self) -> None:
        async with translated("SNS", "GetTopicAttributes"):
            await self.client.get_topic_attributes(TopicArn=self.topic_arn)
