"""The reconciler's side of the payments table: the due payments of a sparse index's shard
(pending or outbox), and the conditional claims that move their due time. Rare next to the
worker's decisions, so a claim reads the whole item back (ALL_NEW)."""

from __future__ import annotations

from datetime import datetime

from aiodynamo.client import Client
from aiodynamo.errors import ConditionalCheckFailed
from aiodynamo.expressions import F, HashKey, RangeKey
from aiodynamo.models import ReturnValues, Select

from paysys.adapters.dynamodb_items import dynamo_translated, from_item
from paysys.core.domain import Payment, PaymentStatus, format_time, parse_time
from paysys.core.ports import Due


async def due_in(
    client: Client, table: str, index: str, keys: tuple[str, str, str], *, now: datetime, limit: int
) -> list[Due]:
    """One shard of a sparse index, due before ``now``: (hash name, value, range name)."""
    hash_name, value, range_name = keys
    condition = HashKey(hash_name, value) & RangeKey(range_name).lt(format_time(now))
    async with dynamo_translated("Query"):
        page = await client.query_single_page(
            table, condition, index=index, limit=limit, select=Select.all_projected_attributes
        )
    return [
        Due(i["id"], parse_time(i[range_name]), parse_time(i["created_at"])) for i in page.items
    ]


async def claim_pending(client: Client, table: str, due: Due, next_due: datetime) -> Payment | None:
    update = F("due_at").set(format_time(next_due)) & F("republished").add(1)
    try:
        async with dynamo_translated("UpdateItem"):
            item = await client.update_item(
                table,
                {"id": due.payment_id},
                update,
                # Also passes where ``due_at`` is already ours: a retry of this very
                # claim whose reply was lost recognises its own success.
                condition=(
                    F("due_at").equals(format_time(due.due_at))
                    | F("due_at").equals(format_time(next_due))
                )
                & F("status").equals(PaymentStatus.PENDING.value),
                return_values=ReturnValues.all_new,
            )
    except ConditionalCheckFailed:
        return None  # final meanwhile, or another worker claimed it first
    return from_item(item) if item else None


async def claim_outbox(client: Client, table: str, due: Due, next_due: datetime) -> Payment | None:
    try:
        async with dynamo_translated("UpdateItem"):
            item = await client.update_item(
                table,
                {"id": due.payment_id},
                F("outbox_at").set(format_time(next_due)),
                condition=F("outbox_at").equals(format_time(due.due_at))
                | F("outbox_at").equals(format_time(next_due)),  # or our own retry
                return_values=ReturnValues.all_new,
            )
    except ConditionalCheckFailed:
        return None  # published and cleared meanwhile, or claimed by another worker
    return from_item(item) if item else None
