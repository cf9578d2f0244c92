"""How a payment is laid out as a DynamoDB item, and the translation of aiodynamo's errors."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

from aiodynamo.client import Client
from aiodynamo.errors import AIODynamoError, ConditionalCheckFailed, ItemNotFound, TableNotFound
from aiodynamo.models import BatchGetRequest, RetryTimeout
from aiohttp import ClientError as HttpClientError

from paysys.core import partition_keys
from paysys.core.domain import DEFAULT_MERCHANT, Payment, PaymentStatus, format_time, parse_time
from paysys.errors import BackendUnavailable
from paysys.observability import tracing

# The sparse index the reconciler reads: only payments not yet final carry its keys.
PENDING_INDEX = "pending-due"
# The sparse outbox index: final payments whose outcome event may not be published yet.
OUTBOX_INDEX = "outbox-due"
# Newest first per merchant: time-bucketed, sharded; keys only (a page is then read by id).
LIST_INDEX = "merchant-created"
# The index of the first layout (hash: status, two values): removed by `paysys provision`.
LEGACY_STATUS_INDEX = "status-created_at"
BATCH_GET_LIMIT = 100


@dataclass(frozen=True, slots=True)
class IndexSpec:
    """A global secondary index of the payments table (string keys, on-demand)."""

    name: str
    hash_key: str
    range_key: str
    projection: str  # "KEYS_ONLY" | "INCLUDE" | "ALL"
    include: tuple[str, ...] = ()

    def definition(self) -> dict[str, Any]:
        """The index as DynamoDB's CreateTable/UpdateTable requests spell it."""
        projection: dict[str, Any] = {"ProjectionType": self.projection}
        if self.include:
            projection["NonKeyAttributes"] = list(self.include)
        return {
            "IndexName": self.name,
            "KeySchema": [
                {"AttributeName": self.hash_key, "KeyType": "HASH"},
                {"AttributeName": self.range_key, "KeyType": "RANGE"},
            ],
            "Projection": projection,
        }


INDEXES = (
    IndexSpec(PENDING_INDEX, "pending_shard", "due_at", "INCLUDE", ("created_at",)),
    IndexSpec(LIST_INDEX, "list_pk", "list_sk", "KEYS_ONLY"),
    IndexSpec(OUTBOX_INDEX, "outbox_shard", "outbox_at", "INCLUDE", ("created_at",)),
)


@dataclass(frozen=True, slots=True)
class Layout:
    """The shard counts and windows that decide an item's index keys."""

    pending_shards: int = 32
    list_shards: int = 16
    counter_shards: int = 4  # rollup shards of the counts journal
    reconcile_after: timedelta = timedelta(seconds=60)


@asynccontextmanager
async def dynamo_translated(operation: str) -> AsyncIterator[None]:
    """Vendor errors → ``BackendUnavailable``; domain outcomes are handled by the caller.
    The call's CLIENT span: a domain outcome does not mark it failed."""
    outcomes = (ConditionalCheckFailed, ItemNotFound)
    with tracing.client_span("DynamoDB", operation, expected=outcomes):
        try:
            yield
        except outcomes:
            raise
        except TableNotFound as exc:
            raise BackendUnavailable(f"DynamoDB {operation}: table not found") from exc
        except (AIODynamoError, RetryTimeout, HttpClientError, TimeoutError) as exc:
            raise BackendUnavailable(f"DynamoDB {operation} failed: {type(exc).__name__}") from exc


def to_item(payment: Payment, layout: Layout) -> dict[str, Any]:
    created = format_time(payment.created_at)
    item: dict[str, Any] = {
        "id": payment.id,
        "merchant_id": payment.merchant_id,
        "amount": payment.amount,
        "currency": payment.currency,
        "status": payment.status.value,
        "created_at": created,
        "updated_at": format_time(payment.updated_at),
        "correlation_id": payment.correlation_id,
        "list_pk": partition_keys.list_pk_of(
            payment.merchant_id, payment.created_at, payment.id, layout.list_shards
        ),
        "list_sk": partition_keys.list_sk(created, payment.id),
    }
    if payment.description:
        item["description"] = payment.description
    if payment.approved_at is not None:
        item["approved_at"] = format_time(payment.approved_at)
    if payment.decline_reason is not None:
        item["decline_reason"] = payment.decline_reason
    if payment.status is PaymentStatus.PENDING:
        item["pending_shard"] = partition_keys.pending_shard(payment.id, layout.pending_shards)
        item["due_at"] = format_time(payment.created_at + layout.reconcile_after)
    return item


def from_item(item: dict[str, Any]) -> Payment:
    approved_at = item.get("approved_at")
    return Payment(
        id=item["id"],
        merchant_id=item.get("merchant_id", DEFAULT_MERCHANT),
        amount=Decimal(item["amount"]),
        currency=item["currency"],
        description=item.get("description", ""),
        status=PaymentStatus(item["status"]),
        created_at=parse_time(item["created_at"]),
        updated_at=parse_time(item["updated_at"]),
        approved_at=parse_time(approved_at) if approved_at else None,
        correlation_id=item.get("correlation_id", ""),
        decline_reason=item.get("decline_reason"),
    )


def counter_field(status: PaymentStatus) -> str:
    return f"n_{status.value}"


async def batch_get(
    client: Client, table: str, ids: Sequence[str], *, consistent: bool = False
) -> dict[str, dict[str, Any]]:
    """Items by id (missing ids absent), in calls of at most 100 keys, unprocessed keys
    asked again."""
    found: dict[str, dict[str, Any]] = {}
    wanted = [{"id": i} for i in dict.fromkeys(ids)]
    while wanted:
        chunk, wanted = wanted[:BATCH_GET_LIMIT], wanted[BATCH_GET_LIMIT:]
        async with dynamo_translated("BatchGetItem"):
            response = await client.batch_get(
                {table: BatchGetRequest(keys=chunk, consistent_read=consistent)}
            )
        found.update({item["id"]: item for item in response.items.get(table, [])})
        wanted += response.unprocessed_keys.get(table, [])
    return found


async def translated_scan(items: AsyncIterator[dict[str, Any]]) -> AsyncIterator[dict[str, Any]]:
    """A scan, page by page (never the whole table in memory), its errors translated."""
    while True:
        async with dynamo_translated("Scan"):
            try:
                item = await anext(items)
            except StopAsyncIteration:
                return
        yield item
