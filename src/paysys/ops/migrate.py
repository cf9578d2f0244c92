"""Bringing a payments table made by an earlier paysys to today's layout, idempotently.

1. Add each index of ``INDEXES`` that is missing (one ``UpdateTable`` each; waits until it is
   active).
2. Backfill: every payment item without the listing keys gets its merchant (the default one),
   its listing keys and, while not final, its pending-index keys, and is counted in its
   merchant's counters (each item once: the update is conditional on the keys being absent);
   a final payment that still carries pending-index keys (approved by an older worker) loses
   them. This one scan reads the whole table once; it is a migration, never a request path.
3. Fold the counter items of earlier versions into today's counts layout, once
   (``paysys.ops.migrate_counts``).
4. Remove the first layout's ``status-created_at`` index (two hot key values).
5. Build the webhook index of merchants whose endpoints were registered before it
   (``paysys.ops.migrate_webhooks``; every run writes each such merchant's index again,
   idempotently: endpoints are few).
Running it again changes nothing, so an operator runs it before and after rolling out.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import structlog
from aiodynamo.errors import ConditionalCheckFailed
from aiodynamo.expressions import F

from paysys.adapters.dynamodb import DynamoPayments
from paysys.adapters.dynamodb_items import (
    INDEXES,
    LEGACY_STATUS_INDEX,
    dynamo_translated,
    from_item,
    to_item,
    translated_scan,
)
from paysys.core.domain import PaymentStatus
from paysys.ops.migrate_counts import fold_legacy_counters
from paysys.ops.migrate_webhooks import build_webhook_index

log = structlog.get_logger(__name__)
INDEX_WAIT_SECONDS = 900.0


async def migrate_table(payments: DynamoPayments) -> list[str]:
    """What this call changed (empty when the table was already up to date)."""
    done: list[str] = []
    indexes = await _indexes(payments)
    for spec in INDEXES:
        if spec.name not in indexes:
            await _update_table(
                payments, spec.definition(), "Create", [spec.hash_key, spec.range_key]
            )
            done.append(f"index:{spec.name}")
    backfilled = await backfill(payments)
    if backfilled:
        done.append(f"backfilled:{backfilled}")
    folded = await fold_counters(payments)
    if folded:
        done.append(f"counters_folded:{folded}")
    if LEGACY_STATUS_INDEX in indexes:
        await _update_table(payments, {"IndexName": LEGACY_STATUS_INDEX}, "Delete", [])
        done.append(f"removed:{LEGACY_STATUS_INDEX}")
    if indexed := await build_webhook_index(payments.client, payments.table):
        done.append(f"webhook_index:{indexed}")
    if done:
        log.info("provision.migrated", table=payments.table, changes=done)
    return done


async def backfill(payments: DynamoPayments) -> int:
    """Give every payment of an earlier layout today's keys (and count it); the number done."""
    # Not a payment: an item with a ``kind`` (counters, leases, the counts journal, whose
    # writer registries carry ``pending_shard`` too).
    unmigrated = F("kind").does_not_exist() & (
        F("list_pk").does_not_exist()
        | (F("pending_shard").exists() & F("status").not_equals(PaymentStatus.PENDING.value))
    )
    count = 0
    scan = payments.client.scan(payments.table, filter_expression=unmigrated)
    async for item in translated_scan(scan):
        payment = from_item(item)
        if "list_pk" in item:  # final, with stale pending keys: drop them
            await _update(payments, item["id"], F("pending_shard").remove() & F("due_at").remove())
            continue
        wanted = to_item(payment, payments.layout)
        update = F("merchant_id").set(payment.merchant_id)
        for name in ("list_pk", "list_sk", "pending_shard", "due_at"):
            if name in wanted:
                update = update & F(name).set(wanted[name])
        if await _update(payments, item["id"], update, F("list_pk").does_not_exist()):
            await payments.count_existing(payment)
            count += 1
    return count


async def fold_counters(payments: DynamoPayments) -> int:
    """Fold the old ``#count#<merchant>#<shard>`` items (one scan, filtered to counters)."""
    legacy = F("kind").equals("counter") & F("id").begins_with("#count#")
    scan = payments.client.scan(payments.table, filter_expression=legacy)
    return await fold_legacy_counters(payments, [item async for item in translated_scan(scan)])


async def _update(
    payments: DynamoPayments, payment_id: str, update: Any, condition: Any = None
) -> bool:
    try:
        async with dynamo_translated("UpdateItem"):
            await payments.client.update_item(
                payments.table, {"id": payment_id}, update, condition=condition
            )
    except ConditionalCheckFailed:
        return False  # done by a concurrent run
    return True


async def _describe(payments: DynamoPayments) -> dict[str, Any]:
    async with dynamo_translated("DescribeTable"):
        response = await payments.client.send_request(
            action="DescribeTable", payload={"TableName": payments.table}
        )
    table: dict[str, Any] = response["Table"]
    return table


async def _indexes(payments: DynamoPayments) -> dict[str, str]:
    """Index name -> status of the table's global secondary indexes."""
    table = await _describe(payments)
    return {
        g["IndexName"]: g.get("IndexStatus", "ACTIVE")
        for g in table.get("GlobalSecondaryIndexes", [])
    }


async def _update_table(
    payments: DynamoPayments, index: dict[str, Any], action: str, attributes: list[str]
) -> None:
    payload: dict[str, Any] = {
        "TableName": payments.table,
        "GlobalSecondaryIndexUpdates": [{action: index}],
    }
    if attributes:
        # The table's definitions plus the new keys' (moto replaces the list; AWS merges).
        defined = {
            a["AttributeName"]: a for a in (await _describe(payments))["AttributeDefinitions"]
        }
        for name in attributes:
            defined.setdefault(name, {"AttributeName": name, "AttributeType": "S"})
        payload["AttributeDefinitions"] = list(defined.values())
    async with dynamo_translated("UpdateTable"):
        await payments.client.send_request(action="UpdateTable", payload=payload)
    deadline = time.monotonic() + INDEX_WAIT_SECONDS
    name = index["IndexName"]
    while time.monotonic() < deadline:  # a backfilling index on AWS takes minutes
        status = (await _indexes(payments)).get(name)
        if (action == "Create" and status == "ACTIVE") or (action == "Delete" and status is None):
            return
        await asyncio.sleep(2)
    log.warning("provision.index_not_ready", index=name, action=action)
