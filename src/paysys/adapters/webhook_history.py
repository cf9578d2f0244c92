"""Webhook delivery history over DynamoDB: one small item per delivery, found by key.

``#wh#<payment id>#<slot>`` holds the delivery's endpoint, event type and its last
``HISTORY_ATTEMPTS`` attempts (attributes ``a0`` .. ``a5``, attempt ``n`` in ``a<n % 6>``),
and ``expires_at`` for the table's TTL. A payment's deliveries are the items of its slots:
one ``BatchGetItem`` of exact ids, whatever the table's size.

Each attempt is one ``UpdateItem`` (about 1 write unit: the item stays under 1 KB,
``tests/unit/test_item_sizes.py``) on the condition that the item is new or names this
endpoint: a retried write whose first try committed sets the same values again, and a slot
reused by a later endpoint never mixes two endpoints' attempts (the later one's write is
refused and logged, not stored).
"""

from __future__ import annotations

import functools
import operator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import structlog
from aiodynamo.client import Client
from aiodynamo.errors import ConditionalCheckFailed, ItemNotFound
from aiodynamo.expressions import F

from paysys.adapters.dynamodb_items import batch_get, dynamo_translated
from paysys.core.deliveries import HISTORY_ATTEMPTS, Delivery, DeliveryAttempt, short_error
from paysys.core.limits import WEBHOOK_ENDPOINTS_MAX
from paysys.core.webhooks import WebhookEndpoint

log = structlog.get_logger(__name__)

HISTORY_PREFIX = "#wh#"
KIND = "webhook_delivery"
TTL_ATTRIBUTE = "expires_at"  # the table's TTL attribute (``paysys.ops.infra.model``)


def history_id(payment_id: str, slot: int) -> str:
    return f"{HISTORY_PREFIX}{payment_id}#{slot}"


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _moment(ms: Any) -> datetime:
    return datetime.fromtimestamp(int(ms) / 1000, UTC)


def attempt_value(attempt: DeliveryAttempt) -> dict[str, Any]:
    """An attempt as stored: short names, times in epoch milliseconds (the item stays small)."""
    value: dict[str, Any] = {
        "n": attempt.attempt,
        "at": _ms(attempt.at),
        "ms": Decimal(str(round(attempt.latency_ms, 1))),
        "r": attempt.result,
    }
    if attempt.status_code is not None:
        value["code"] = attempt.status_code
    if attempt.next_retry_at is not None:
        value["next"] = _ms(attempt.next_retry_at)
    if error := short_error(attempt.error):
        value["err"] = error
    return value


def attempt_of(value: dict[str, Any]) -> DeliveryAttempt:
    return DeliveryAttempt(
        attempt=int(value["n"]),
        at=_moment(value["at"]),
        status_code=int(value["code"]) if "code" in value else None,
        latency_ms=float(value["ms"]),
        result=value["r"],
        next_retry_at=_moment(value["next"]) if "next" in value else None,
        error=value.get("err"),
    )


def delivery_of(item: dict[str, Any], slot: int) -> Delivery:
    attempts = sorted(
        (attempt_of(item[f"a{i}"]) for i in range(HISTORY_ATTEMPTS) if f"a{i}" in item),
        key=lambda a: a.attempt,
    )
    return Delivery(
        payment_id=item["payment_id"],
        slot=slot,
        endpoint_id=item["endpoint_id"],
        event_type=item["event_type"],
        attempts=tuple(attempts),
    )


class DynamoWebhookHistory:
    def __init__(self, client: Client, table: str, ttl_seconds: int) -> None:
        self.client = client
        self.table = table
        self.ttl_seconds = ttl_seconds

    def attempt_sets(
        self, endpoint: WebhookEndpoint, event_type: str, attempt: DeliveryAttempt
    ) -> dict[str, Any]:
        """What an attempt's write sets on the delivery's item."""
        return {
            "kind": KIND,
            "merchant_id": endpoint.merchant_id,
            "endpoint_id": endpoint.endpoint_id,
            "event_type": event_type,
            TTL_ATTRIBUTE: int(attempt.at.timestamp()) + self.ttl_seconds,
            f"a{attempt.attempt % HISTORY_ATTEMPTS}": attempt_value(attempt),
        }

    def first_item(
        self, payment_id: str, endpoint: WebhookEndpoint, event_type: str, attempt: DeliveryAttempt
    ) -> dict[str, Any]:
        """The item a delivery's first recorded attempt leaves (``paysys capacity`` prices it;
        ``tests/integration/test_webhook_history.py`` compares it with the stored one)."""
        return {
            "id": history_id(payment_id, endpoint.slot),
            "payment_id": payment_id,
            **self.attempt_sets(endpoint, event_type, attempt),
        }

    async def record(
        self,
        payment_id: str,
        endpoint: WebhookEndpoint,
        event_type: str,
        attempt: DeliveryAttempt,
    ) -> bool:
        """Store ``attempt``; False when the slot's item belongs to another endpoint."""
        slot, endpoint_id = endpoint.slot, endpoint.endpoint_id
        sets = {"payment_id": payment_id, **self.attempt_sets(endpoint, event_type, attempt)}
        update = functools.reduce(operator.and_, (F(name).set(v) for name, v in sets.items()))
        try:
            async with dynamo_translated("UpdateItem"):
                await self.client.update_item(
                    self.table,
                    {"id": history_id(payment_id, slot)},
                    update,
                    condition=F("id").does_not_exist() | F("endpoint_id").equals(endpoint_id),
                )
        except ConditionalCheckFailed:
            log.warning("webhook.history_slot_taken", slot=slot, endpoint_id=endpoint_id)
            return False
        return True

    async def for_payment(self, merchant_id: str, payment_id: str) -> list[Delivery]:
        """The payment's deliveries (the merchant's own only), by slot."""
        ids = [history_id(payment_id, slot) for slot in range(WEBHOOK_ENDPOINTS_MAX)]
        items = await batch_get(self.client, self.table, ids, consistent=True)
        return [
            delivery_of(items[key], slot)
            for slot, key in enumerate(ids)
            if key in items
            and items[key].get("kind") == KIND
            and items[key].get("merchant_id") == merchant_id
        ]

    async def get(self, merchant_id: str, payment_id: str, slot: int) -> Delivery | None:
        """One delivery (None: none, or another merchant's)."""
        try:
            async with dynamo_translated("GetItem"):
                item = await self.client.get_item(
                    self.table, {"id": history_id(payment_id, slot)}, consistent_read=True
                )
        except ItemNotFound:
            return None
        if item.get("kind") != KIND or item.get("merchant_id") != merchant_id:
            return None
        return delivery_of(item, slot)
