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
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import structlog
from aiodynamo.client import Client
from aiodynamo.errors import ConditionalCheckFailed
from aiodynamo.expressions import F
from aiodynamo.models import ReturnValues

from paysys.adapters.dynamodb_items import batch_get, dynamo_translated
from paysys.core.cache import SingleFlight
from paysys.core.domain import format_time, parse_time
from paysys.core.limits import WEBHOOK_ENDPOINTS_MAX
from paysys.core.webhooks import (
    NewEndpoint,
    WebhookEndpoint,
    new_endpoint_id,
    new_salt,
    rotated_previous,
)
from paysys.errors import BackendUnavailable, WebhookEndpointLimit, WebhookEndpointNotFound

log = structlog.get_logger(__name__)

WEBHOOK_PREFIX = "#webhook#"
KIND = "webhook_endpoint"
CREATED_BY = "created_by"
ROTATED_BY = "rotated_by"
PREVIOUS = "previous"  # rotated-out salts still signing, "salt:until"
ROTATE_TRIES = 3


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
    } | ({PREVIOUS: previous_value(endpoint.previous)} if endpoint.previous else {})


def previous_value(previous: tuple[tuple[str, int], ...]) -> builtins.list[str]:
    return [f"{salt}:{until}" for salt, until in previous]


def endpoint_of(item: dict[str, Any]) -> WebhookEndpoint:
    previous = [entry.partition(":") for entry in item.get(PREVIOUS, [])]
    return WebhookEndpoint(
        endpoint_id=item["endpoint_id"],
        merchant_id=item["merchant_id"],
        url=item["url"],
        event_types=tuple(item["event_types"]),
        salt=item["salt"],
        created_at=parse_time(item["created_at"]),
        slot=int(item["id"].rpartition("#")[2]),
        previous=tuple((salt, int(until)) for salt, _, until in previous),
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
        new_id, salt = new_endpoint_id(), new_salt()
        taken = await self._slots(merchant_id)
        for slot in range(WEBHOOK_ENDPOINTS_MAX):
            if slot in taken:
                continue
            endpoint = WebhookEndpoint(
                new_id, merchant_id, new.url, new.event_types, salt, now, slot=slot
            )
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

    async def rotate(
        self, merchant_id: str, endpoint_id: str, until: int, now: float, token: str
    ) -> WebhookEndpoint:
        """Give the endpoint a new salt (so a new secret); the replaced one keeps signing until
        ``until`` (``core.webhooks.rotated_previous``). The write is conditional on the salt
        it replaces, or on carrying this request's token: a retry whose first try committed
        finds its own rotation; a concurrent rotation is read again and built on."""
        for _ in range(ROTATE_TRIES):
            endpoint = await self.get(merchant_id, endpoint_id)
            rotated = replace(
                endpoint, salt=new_salt(), previous=rotated_previous(endpoint, until, now)
            )
            update = (
                F("salt").set(rotated.salt)
                & F(PREVIOUS).set(previous_value(rotated.previous))
                & F(ROTATED_BY).set(token)
            )
            try:
                async with dynamo_translated("UpdateItem"):
                    item = await self.client.update_item(
                        self.table,
                        {"id": slot_id(merchant_id, endpoint.slot)},
                        update,
                        condition=F("endpoint_id").equals(endpoint_id)
                        & (F("salt").equals(endpoint.salt) | F(ROTATED_BY).equals(token)),
                        return_values=ReturnValues.all_new,
                    )
            except ConditionalCheckFailed:
                continue  # rotated by someone else meanwhile (or deleted): read again
            self._cache.forget(merchant_id)
            log.info("webhook.secret_rotated", endpoint_id=endpoint_id, previous_until=until)
            return endpoint_of(item) if item else rotated
        raise BackendUnavailable("the endpoint kept changing while its secret was rotated")

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
