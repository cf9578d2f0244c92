"""Webhook endpoints over DynamoDB: items of their own kind in the payments table.

A merchant's endpoints live in ``WEBHOOK_ENDPOINTS_MAX`` slots, one item each:
``#webhook#<merchant>#<slot>`` (every item small and bounded: ``tests/unit/
test_item_sizes.py``; a merchant's slots are distinct partition keys, read together by one
``BatchGetItem``). A registration puts the endpoint in the first free slot, on the condition
that the slot is free or holds this very request's token (``created_by``: a put whose reply
was lost, retried, recognises its own success). A delete removes the slot on the condition
that it holds the endpoint or nothing (deleting twice is harmless).
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import structlog
from aiodynamo.client import Client
from aiodynamo.errors import ConditionalCheckFailed
from aiodynamo.expressions import F

from paysys.adapters.dynamodb_items import batch_get, dynamo_translated
from paysys.core.cache import SingleFlight
from paysys.core.domain import format_time, parse_time
from paysys.core.limits import WEBHOOK_ENDPOINTS_MAX
from paysys.core.webhooks import NewEndpoint, WebhookEndpoint, new_endpoint_id, new_salt
from paysys.errors import WebhookEndpointLimit, WebhookEndpointNotFound

log = structlog.get_logger(__name__)

WEBHOOK_PREFIX = "#webhook#"
KIND = "webhook_endpoint"
CREATED_BY = "created_by"


def slot_id(merchant_id: str, slot: int) -> str:
    return f"{WEBHOOK_PREFIX}{merchant_id}#{slot}"


def endpoint_item(endpoint: WebhookEndpoint, slot: int, token: str) -> dict[str, Any]:
    return {
        "id": slot_id(endpoint.merchant_id, slot),
        "kind": KIND,
        "endpoint_id": endpoint.endpoint_id,
        "merchant_id": endpoint.merchant_id,
        "url": endpoint.url,
        "event_types": list(endpoint.event_types),
        "salt": endpoint.salt,
        "created_at": format_time(endpoint.created_at),
        CREATED_BY: token,
    }


def endpoint_of(item: dict[str, Any]) -> WebhookEndpoint:
    return WebhookEndpoint(
        endpoint_id=item["endpoint_id"],
        merchant_id=item["merchant_id"],
        url=item["url"],
        event_types=tuple(item["event_types"]),
        salt=item["salt"],
        created_at=parse_time(item["created_at"]),
    )


@dataclass(slots=True)
class DynamoWebhookEndpoints:
    client: Client
    table: str
    cache_seconds: float = 0.0  # ``cached``: how long the worker reuses a merchant's list
    _cache: SingleFlight[builtins.list[WebhookEndpoint]] = field(init=False)

    def __post_init__(self) -> None:
        self._cache = SingleFlight(self.cache_seconds, max_keys=10_000)

    async def add(
        self, merchant_id: str, new: NewEndpoint, now: datetime, token: str
    ) -> WebhookEndpoint:
        """Store a new endpoint in the merchant's first free slot; ``WebhookEndpointLimit``
        when every slot is taken."""
        endpoint = WebhookEndpoint(
            new_endpoint_id(), merchant_id, new.url, new.event_types, new_salt(), now
        )
        taken = await self._slots(merchant_id)
        for slot in range(WEBHOOK_ENDPOINTS_MAX):
            if slot in taken:
                continue
            item = endpoint_item(endpoint, slot, token)
            try:
                async with dynamo_translated("PutItem"):
                    await self.client.put_item(
                        self.table,
                        item,
                        condition=F("id").does_not_exist() | F(CREATED_BY).equals(token),
                    )
            except ConditionalCheckFailed:
                continue  # taken meanwhile by another registration
            self._cache.forget(merchant_id)
            log.info("webhook.endpoint_added", endpoint_id=endpoint.endpoint_id, slot=slot)
            return endpoint
        raise WebhookEndpointLimit(
            f"a merchant has at most {WEBHOOK_ENDPOINTS_MAX} webhook endpoints: delete one first"
        )

    async def list(self, merchant_id: str) -> builtins.list[WebhookEndpoint]:
        """The merchant's endpoints, oldest first (one consistent batch read)."""
        return sorted(
            (await self._slots(merchant_id)).values(), key=lambda e: (e.created_at, e.endpoint_id)
        )

    async def cached(self, merchant_id: str) -> builtins.list[WebhookEndpoint]:
        """``list``, reused for ``cache_seconds`` and shared by concurrent callers (the
        worker reads it for every event: a burst of one merchant's events is one read)."""
        return await self._cache.get(merchant_id, lambda: self._fresh(merchant_id))

    async def _fresh(self, merchant_id: str) -> builtins.list[WebhookEndpoint]:
        # Eventually consistent (half the read units): a new endpoint may miss an event sent
        # within a second of its registration, as it may within the cache period anyway.
        slots = await self._slots(merchant_id, consistent=False)
        return sorted(slots.values(), key=lambda e: (e.created_at, e.endpoint_id))

    async def get(self, merchant_id: str, endpoint_id: str) -> WebhookEndpoint:
        for endpoint in (await self._slots(merchant_id)).values():
            if endpoint.endpoint_id == endpoint_id:
                return endpoint
        raise WebhookEndpointNotFound(endpoint_id)

    async def delete(self, merchant_id: str, endpoint_id: str) -> None:
        """Remove the endpoint; ``WebhookEndpointNotFound`` when the merchant has none by that
        id. The condition also passes when the slot is already empty: a retry whose first
        attempt committed."""
        for slot, endpoint in (await self._slots(merchant_id)).items():
            if endpoint.endpoint_id != endpoint_id:
                continue
            try:
                async with dynamo_translated("DeleteItem"):
                    await self.client.delete_item(
                        self.table,
                        {"id": slot_id(merchant_id, slot)},
                        condition=F("id").does_not_exist() | F("endpoint_id").equals(endpoint_id),
                    )
            except ConditionalCheckFailed:  # the slot holds another endpoint now: ours is gone
                pass
            self._cache.forget(merchant_id)
            log.info("webhook.endpoint_deleted", endpoint_id=endpoint_id, slot=slot)
            return
        raise WebhookEndpointNotFound(endpoint_id)

    async def _slots(
        self, merchant_id: str, *, consistent: bool = True
    ) -> dict[int, WebhookEndpoint]:
        ids = [slot_id(merchant_id, slot) for slot in range(WEBHOOK_ENDPOINTS_MAX)]
        items = await batch_get(self.client, self.table, ids, consistent=consistent)
        return {
            slot: endpoint_of(items[key])
            for slot, key in enumerate(ids)
            if key in items and items[key].get("kind") == KIND
        }
