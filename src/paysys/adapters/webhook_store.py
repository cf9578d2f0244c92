"""Webhook endpoints over DynamoDB: items of their own kind in the payments table.

A merchant's endpoints live in ``WEBHOOK_ENDPOINTS_MAX`` slots, one item each:
``#webhook#<merchant>#<slot>`` (every item small and bounded: ``tests/unit/
test_item_sizes.py``; a merchant's slots are distinct partition keys, read together by one
``BatchGetItem``). The merchant's index item (``webhook_index``) lists the occupied slots,
so the worker's lookup reads one small item, and only the listed slots after it.

A registration puts the endpoint in the first free slot, on the condition that the slot is free
or holds this very request's token (``created_by``), and adds the slot to the index, in one
``TransactWriteItems`` whose ``ClientRequestToken`` is derived from the request's token, the
slot and the new endpoint's id (``dynamodb_transact``): a send whose reply was lost, sent
again, is applied once; a registration called again with its token finds its own endpoint. A
delete removes the slot on the condition that it holds the endpoint or nothing (deleting twice
is harmless) and the slot from the index, in one transaction too. The API's reads (``list``,
``get``, and the free slot a registration takes) read every slot, consistently: they are rare,
and they stay right for a merchant whose index ``paysys provision`` has not built yet.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import structlog
from aiodynamo.client import Client
from aiodynamo.errors import ConditionalCheckFailed, ItemNotFound
from aiodynamo.expressions import F
from aiodynamo.models import ReturnValues
from aiodynamo.operations import Delete, Put

from paysys.adapters.dynamodb_items import batch_get, dynamo_translated
from paysys.adapters.dynamodb_transact import request_token, transact
from paysys.adapters.webhook_index import index_add, index_id, index_remove, slots_of
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
        items = await self._items(merchant_id)
        for item in items.values():
            if item.get(CREATED_BY) == token:  # called again: the first call's endpoint
                return endpoint_of(item)
        new_id, salt = new_endpoint_id(), new_salt()
        for slot in range(WEBHOOK_ENDPOINTS_MAX):
            if slot in items:
                continue
            endpoint = WebhookEndpoint(
                new_id, merchant_id, new.url, new.event_types, salt, now, slot=slot
            )
            put = Put(
                self.table,
                endpoint_item(endpoint, slot, token),
                F("id").does_not_exist() | F(CREATED_BY).equals(token),
            )
            added = index_add(self.table, merchant_id, [slot])
            # One token per transaction sent: a resend carries the same items, never others.
            sent = request_token("add", merchant_id, str(slot), new_id, token)
            if not await transact(self.client, [put, added], sent):
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
        # The index first (0.5 read units), then only the slots it lists (0.5 each).
        try:
            async with dynamo_translated("GetItem"):
                index = await self.client.get_item(self.table, {"id": index_id(merchant_id)})
        except ItemNotFound:
            return []
        occupied = slots_of(index)
        if not occupied:
            return []
        slots = await self._slots(merchant_id, sorted(occupied), consistent=False)
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
            delete = Delete(
                self.table,
                {"id": slot_id(merchant_id, slot)},
                F("id").does_not_exist() | F("endpoint_id").equals(endpoint_id),
            )
            removed = index_remove(self.table, merchant_id, slot)
            token = request_token("delete", merchant_id, str(slot), endpoint_id)
            # Refused: the slot holds another endpoint now (ours is gone; the index lists that one).
            await transact(self.client, [delete, removed], token)
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
        self, merchant_id: str, slots: Iterable[int] | None = None, *, consistent: bool = True
    ) -> dict[int, WebhookEndpoint]:
        items = await self._items(merchant_id, slots, consistent=consistent)
        return {slot: endpoint_of(item) for slot, item in items.items()}

    async def _items(
        self, merchant_id: str, slots: Iterable[int] | None = None, *, consistent: bool = True
    ) -> dict[int, dict[str, Any]]:
        """The stored endpoint items by slot, of ``slots`` (default: every slot)."""
        wanted = range(WEBHOOK_ENDPOINTS_MAX) if slots is None else slots
        ids = {slot: slot_id(merchant_id, slot) for slot in wanted}
        items = await batch_get(self.client, self.table, list(ids.values()), consistent=consistent)
        return {
            slot: items[key]
            for slot, key in ids.items()
            if key in items and items[key].get("kind") == KIND
        }
