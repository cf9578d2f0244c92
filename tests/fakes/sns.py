"""EventPublisher in memory: raw delivery to the subscribed fake queues."""

from __future__ import annotations

import uuid
from typing import Any

from paysys.core.ports import Event
from paysys.errors import BackendUnavailable
from paysys.observability import tracing

from .sqs import FakeQueue


class FakeTopic:
    """EventPublisher: raw delivery of each event to every subscribed queue."""

    def __init__(self, *subscribers: FakeQueue) -> None:
        self.subscribers = list(subscribers)
        self.published: list[Any] = []

    async def publish(self, event: Event, correlation_id: str) -> str:
        attributes = {
            "event_type": event.event_type,
            "merchant_id": event.merchant_id,
            "correlation_id": correlation_id,
            **event.routing_attributes(),
        }
        attributes.update(tracing.carrier())  # the current trace context, as SnsPublisher
        if not all(attributes.values()):  # SNS refuses an empty attribute value
            raise BackendUnavailable("SNS Publish failed: InvalidParameterValue")
        for queue in self.subscribers:
            queue.deliver(event.to_message(), attributes)
        self.published.append(event)
        return str(uuid.uuid4())

    async def submit(self, event: Event, correlation_id: str) -> None:
        await self.publish(event, correlation_id)  # in memory: delivered before it returns

    async def ping(self) -> None:
        pass
