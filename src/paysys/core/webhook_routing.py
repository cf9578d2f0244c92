"""Outcomes routed past the webhook queue when no endpoint of their merchant wants them.

Every outcome is published to the outcomes topic, for any subscriber. The webhook queue's
subscription filters out those marked ``no_webhook_endpoint``: a merchant without an
endpoint for the event's type costs the delivery loops nothing (no receive, no delete, no
lookup there). The mark is set from the same cached endpoint list the delivery loops read, so
a new endpoint is seen as late as it was before (the cache's period). When the list cannot be
read the outcome goes unmarked: it reaches the queue and the delivery loop decides, as
without routing.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Protocol

import structlog

from paysys.core.outcomes import PaymentOutcome
from paysys.core.ports import Event, EventPublisher
from paysys.core.webhooks import WebhookEndpoint
from paysys.errors import BackendUnavailable

log = structlog.get_logger(__name__)


class EndpointLookup(Protocol):
    async def cached(self, merchant_id: str) -> list[WebhookEndpoint]: ...


@dataclass(frozen=True, slots=True)
class WebhookRouting:
    """An ``EventPublisher`` of outcomes over ``inner`` that marks each outcome no endpoint
    of its merchant wants (other events pass unchanged)."""

    inner: EventPublisher
    endpoints: EndpointLookup

    async def publish(self, event: Event, correlation_id: str) -> str:
        return await self.inner.publish(await self.route(event), correlation_id)

    async def submit(self, event: Event, correlation_id: str) -> None:
        await self.inner.submit(await self.route(event), correlation_id)

    async def ping(self) -> None:
        await self.inner.ping()

    async def route(self, event: Event) -> Event:
        if not isinstance(event, PaymentOutcome) or event.webhook_endpoint is not None:
            return event
        try:
            endpoints = await self.endpoints.cached(event.merchant_id)
        except BackendUnavailable as exc:  # unknown: the delivery loop looks again
            log.warning("webhook.routing_unknown", payment_id=event.payment_id, error=str(exc))
            return event
        wanted = any(e.wants(event.event_type) for e in endpoints)
        return dataclasses.replace(event, webhook_endpoint=wanted)
