"""PaymentRepository over DynamoDB (aiodynamo). Money is Decimal end to end."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from aiodynamo.client import Client
from aiodynamo.errors import (
    AIODynamoError,
    ConditionalCheckFailed,
    ItemNotFound,
    TableNotFound,
)
from aiodynamo.expressions import F, HashKey, RangeKey
from aiodynamo.models import RetryTimeout
from aiohttp import ClientError as HttpClientError

from paysys import tracing
from paysys.core.domain import Payment, PaymentStatus, format_time, parse_time
from paysys.errors import BackendUnavailable, PaymentNotFound

# The reconciler's index (hash status, range created_at); it only asks for Pending.
STATUS_INDEX = "status-created_at"
_PENDING = F("status").equals(PaymentStatus.PENDING.value)


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


@dataclass(frozen=True, slots=True)
class DynamoPayments:
    client: Client
    table: str

    async def add(self, payment: Payment) -> bool:
        try:
            async with dynamo_translated("PutItem"):
                await self.client.put_item(
                    self.table, to_item(payment), condition=F("id").does_not_exist()
                )
        except ConditionalCheckFailed:
            return False
        return True

    async def get(self, payment_id: str) -> Payment:
        try:
            async with dynamo_translated("GetItem"):
                item = await self.client.get_item(
                    self.table, {"id": payment_id}, consistent_read=True
                )
        except ItemNotFound:
            raise PaymentNotFound(payment_id) from None
        return from_item(item)

    async def approve(self, payment_id: str, now: datetime) -> bool:
        stamp = format_time(now)
        update = (
            F("status").set(PaymentStatus.APPROVED.value)
            & F("approved_at").set(stamp)
            & F("updated_at").set(stamp)
        )
        try:
            async with dynamo_translated("UpdateItem"):
                await self.client.update_item(
                    self.table, {"id": payment_id}, update, condition=_PENDING
                )
        except ConditionalCheckFailed:
            # Either already approved (a duplicate delivery) or no such payment.
            current = await self.get(payment_id)
            if current.status is PaymentStatus.APPROVED:
                return False
            raise BackendUnavailable(
                f"payment {payment_id} is {current.status}, cannot approve"
            ) from None
        return True

    async def pending_before(self, cutoff: datetime, limit: int) -> list[Payment]:
        condition = HashKey("status", PaymentStatus.PENDING.value) & RangeKey("created_at").lt(
            format_time(cutoff)
        )
        async with dynamo_translated("Query"):
            return [
                from_item(item)
                async for item in self.client.query(
                    self.table, condition, index=STATUS_INDEX, limit=limit
                )
            ]

    async def recent(self, status: PaymentStatus, limit: int) -> list[Payment]:
        async with dynamo_translated("Query"):
            return [
                from_item(item)
                async for item in self.client.query(
                    self.table,
                    HashKey("status", status.value),
                    index=STATUS_INDEX,
                    scan_forward=False,
                    limit=limit,
                )
            ]

    async def count(self, status: PaymentStatus) -> int:
        async with dynamo_translated("Query"):
            return await self.client.count(
                self.table, HashKey("status", status.value), index=STATUS_INDEX
            )

    async def ping(self) -> None:
        async with dynamo_translated("DescribeTable"):
            await self.client.describe_table(self.table)


def to_item(payment: Payment) -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": payment.id,
        "amount": payment.amount,
        "currency": payment.currency,
        "status": payment.status.value,
        "created_at": format_time(payment.created_at),
        "updated_at": format_time(payment.updated_at),
        "correlation_id": payment.correlation_id,
    }
    if payment.description:
        item["description"] = payment.description
    if payment.approved_at is not None:
        item["approved_at"] = format_time(payment.approved_at)
    return item


def from_item(item: dict[str, Any]) -> Payment:
    approved_at = item.get("approved_at")
    return Payment(
        id=item["id"],
        amount=Decimal(item["amount"]),
        currency=item["currency"],
        description=item.get("description", ""),
        status=PaymentStatus(item["status"]),
        created_at=parse_time(item["created_at"]),
        updated_at=parse_time(item["updated_at"]),
        approved_at=parse_time(approved_at) if approved_at else None,
        correlation_id=item.get("correlation_id", ""),
    )
