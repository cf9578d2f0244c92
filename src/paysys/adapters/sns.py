"""EventPublisher over SNS (aiobotocore), with natural batching into PublishBatch."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import structlog

from paysys.adapters.aws import translated
from paysys.core.lingers import GAP_CAP_LINGERS, ArrivalGap
from paysys.core.ports import Event
from paysys.errors import BackendUnavailable
from paysys.observability import tracing

if TYPE_CHECKING:
    from types_aiobotocore_sns.client import SNSClient
    from types_aiobotocore_sns.type_defs import MessageAttributeValueTypeDef

SNS_BATCH_LIMIT = 10
log = structlog.get_logger(__name__)


def message_attributes(
    event: Event, correlation_id: str, carrier: Mapping[str, str]
) -> dict[str, MessageAttributeValueTypeDef]:
    """The SNS message attributes of ``event``: its type, merchant, correlation id, its
    routing attributes and the trace context ``carrier`` (subscribers filter and trace on
    them)."""
    fields = {
        "event_type": event.event_type,
        "merchant_id": event.merchant_id,
        "correlation_id": correlation_id,
        **event.routing_attributes(),
        **carrier,
    }
    return {name: {"DataType": "String", "StringValue": value} for name, value in fields.items()}


@dataclass(slots=True)
class _Pending:
    """An entry waiting for a batch: the request entry, its waiter, the publisher's trace
    context, and when it was queued (loop time)."""

    entry: dict[str, Any]
    done: asyncio.Future[str]
    context: tracing.TraceContext
    queued: float


@dataclass(slots=True)
class SnsPublisher:
    """``publish`` queues the entry and a PublishBatch (up to 10 entries) carries it. A partial
    batch goes once its oldest entry has waited its linger (``linger_seconds``, 0: at once; at
    once too while events come more than two lingers apart; widened towards
    ``max_linger_seconds`` while a full batch is expected to take longer, see
    ``ArrivalGap.widened``) and no call is in flight; while one is, entries wait for it and ride
    the next call together, and only a full batch of 10 opens another concurrent call (at most
    ``max_calls``). So under moderate load several entries share a call instead of one each
    (every call costs CPU here and money on AWS), and under heavy load ``max_calls`` full
    batches go at once. At most ``max_pending`` entries wait: past that ``publish`` fails at
    once (``shed`` counts it) instead of growing without bound while SNS is slow; the caller has
    stored the payment, and the reconciler publishes it later. ``submit`` queues without waiting
    for the answer (a failure is logged and counted); ``close`` sends what is queued, linger or
    not."""

    client: SNSClient
    topic_arn: str
    max_calls: int = 4
    max_pending: int = 1000
    linger_seconds: float = 0.0
    max_linger_seconds: float = 0.0
    shed: int = 0
    failed: int = 0
    _pending: list[_Pending] = field(default_factory=list)
    _calls: int = 0
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _timer: asyncio.TimerHandle | None = None
    _closing: bool = False
    arrivals: ArrivalGap = field(default_factory=ArrivalGap)

    async def publish(self, event: Event, correlation_id: str) -> str:
        """Queue the event and wait for its batch's answer."""
        try:
            return await self._queue(event, correlation_id)
        except BackendUnavailable:
            self.failed += 1
            raise

    async def submit(self, event: Event, correlation_id: str) -> None:
        """Queue the event and return: its batch is sent in the background; a failure is
        logged (``payment.publish_deferred``, in the caller's log context) and counted."""
        self._queue(event, correlation_id).add_done_callback(self._deferred)

    def _deferred(self, done: asyncio.Future[str]) -> None:
        if done.cancelled() or done.exception() is None:
            return
        self.failed += 1
        log.warning("payment.publish_deferred", error=str(done.exception()))

    def _queue(self, event: Event, correlation_id: str) -> asyncio.Future[str]:
        """The entry queued for a batch, inside its PRODUCER span. The event carries that
        span's context (``traceparent``, ``tracestate``), captured here: the batch call runs
        in another task, outside the caller's context."""
        with tracing.producer_span(f"publish {event.event_type}", self.topic_arn):
            attributes = message_attributes(event, correlation_id, tracing.carrier())
            if len(self._pending) >= self.max_pending:
                self.shed += 1
                raise BackendUnavailable(
                    f"SNS publish backlog full ({len(self._pending)} events waiting)"
                )
            loop = asyncio.get_running_loop()
            done: asyncio.Future[str] = loop.create_future()
            entry = {"Message": event.to_message(), "MessageAttributes": attributes}
            now = loop.time()
            self.arrivals.observe(now, cap=GAP_CAP_LINGERS * self.linger_seconds)
            self._pending.append(_Pending(entry, done, tracing.capture(), now))
            self._pump()
            return done

    async def flush(self) -> None:
        """Send everything queued now, linger or not, and wait for the calls in flight."""
        closing, self._closing = self._closing, True
        try:
            self._pump()
            while self._tasks:
                await asyncio.gather(*self._tasks, return_exceptions=True)
        finally:
            self._closing = closing

    async def close(self) -> None:
        """Flush, and from now on send every event at once."""
        self._closing = True
        await self.flush()

    def _pump(self) -> None:
        loop = asyncio.get_running_loop()
        while self._pending and self._calls < self.max_calls:
            if len(self._pending) < SNS_BATCH_LIMIT and not self._closing:
                if self._calls:
                    return  # a partial batch waits for the call in flight, and fills meanwhile
                due = self._pending[0].queued + self._linger()
                if loop.time() < due and self.arrivals.expects_company(self.linger_seconds):
                    if self._timer is None:
                        self._timer = loop.call_at(due, self._linger_over)
                    return
            batch = self._pending[:SNS_BATCH_LIMIT]
            del self._pending[:SNS_BATCH_LIMIT]
            self._calls += 1
            task = asyncio.create_task(self._send(batch))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _linger(self) -> float:
        return self.arrivals.widened(self.linger_seconds, self.max_linger_seconds, SNS_BATCH_LIMIT)

    @property
    def due(self) -> float | None:
        """When the partial batch lingering now goes (loop time); None: none lingers."""
        return None if self._timer is None else self._timer.when()

    def _linger_over(self) -> None:
        self._timer = None
        self._pump()

    async def _send(self, batch: list[_Pending]) -> None:
        """One PublishBatch: its span continues the first entry's trace, linked to the rest."""
        try:
            entries: list[Any] = [{"Id": str(i), **p.entry} for i, p in enumerate(batch)]
            contexts = [p.context for p in batch]
            async with translated("SNS", "PublishBatch", parent=contexts[0], linked=contexts[1:]):
                response = await self.client.publish_batch(
                    TopicArn=self.topic_arn, PublishBatchRequestEntries=entries
                )
            for ok in response.get("Successful", []):
                fut = batch[int(ok["Id"])].done
                if not fut.done():
                    fut.set_result(ok.get("MessageId", ""))
            for failed in response.get("Failed", []):
                fut = batch[int(failed["Id"])].done
                if not fut.done():
                    fut.set_exception(BackendUnavailable(f"SNS Publish failed: {failed['Code']}"))
        except Exception as exc:  # noqa: BLE001 - handed to every waiter
            for p in batch:
                if not p.done.done():
                    p.done.set_exception(exc)
        finally:
            for p in batch:  # cancelled mid-call, or an entry the answer did not name
                if not p.done.done():
                    p.done.set_exception(BackendUnavailable("SNS PublishBatch was interrupted"))
            self._calls -= 1
            self._pump()

    async def ping(self) -> None:
        async with translated("SNS", "GetTopicAttributes"):
            await self.client.get_topic_attributes(TopicArn=self.topic_arn)
