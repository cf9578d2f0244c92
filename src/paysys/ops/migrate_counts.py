"""Folding the counter items of earlier versions (``#count#<merchant>#<shard>``, written
directly by every process) into today's layout (``#count#<merchant>`` and the platform totals
``#countp#<s>``, written by the rollup), once.

Each old item is folded by one ``TransactWriteItems``: delete it (on condition that its counts
are still those read, so an old process still writing makes the fold wait for the next run),
ADD its counts to the merchant's item and to its rollup shard's platform totals. All or
nothing, so an item is folded exactly once however often the migration runs or is
interrupted; the request token makes a retry of a lost reply the same transaction. Run it
after the old version's processes have stopped (``paysys provision`` runs it each time).
"""

from __future__ import annotations

import hashlib
from typing import Any

import structlog
from aiodynamo.errors import TransactionCanceled
from aiodynamo.expressions import Condition, F
from aiodynamo.operations import Delete, Update

from paysys.adapters import counter_journal as cj
from paysys.adapters.counter_rollup import CounterRollup
from paysys.adapters.dynamodb import DynamoPayments
from paysys.adapters.dynamodb_items import dynamo_translated
from paysys.core import partition_keys

log = structlog.get_logger(__name__)


def legacy_merchant(item_id: str) -> str | None:
    """The merchant of an old counter item's id; None for any other id."""
    if not item_id.startswith(cj.MERCHANT_PREFIX):
        return None
    merchant, sep, shard = item_id[len(cj.MERCHANT_PREFIX) :].partition("#")
    return merchant if sep and shard.isdigit() else None


async def fold_legacy_counters(payments: DynamoPayments, items: list[dict[str, Any]]) -> int:
    """Fold the old counter items among ``items``; the number folded by this call."""
    folded = 0
    for item in items:
        merchant = legacy_merchant(str(item["id"]))
        if merchant is not None and await _fold(payments, merchant, item):
            folded += 1
    return folded


async def _fold(payments: DynamoPayments, merchant: str, item: dict[str, Any]) -> bool:
    counts = cj.counts_of([item])
    month = item.get("first_month")
    unchanged: Condition = F("id").exists()
    add = F("kind").set("counter")
    for status, n in counts.by_status.items():
        name = f"n_{status.value}"
        if name in item:
            unchanged = unchanged & F(name).equals(item[name])
        if n:
            add = add & F(name).add(n)
    to_merchant = add & F("merchant_id").set(merchant)
    if month is not None:
        to_merchant = to_merchant & F("first_month").set_if_not_exists(str(month))
    shard = partition_keys.shard_of(merchant, payments.layout.counter_shards)
    operations: list[Delete | Update] = [
        Delete(payments.table, {"id": item["id"]}, unchanged),
        Update(payments.table, {"id": cj.merchant_counter_id(merchant)}, to_merchant),
        Update(payments.table, {"id": cj.platform_counter_id(shard)}, add),
    ]
    token = hashlib.blake2b(str(item["id"]).encode(), digest_size=16).hexdigest()
    try:
        async with dynamo_translated("TransactWriteItems"):
            await payments.client.transact_write_items(operations, request_token=token)
    except TransactionCanceled:
        log.warning("provision.counter_not_folded", counter=item["id"])  # changed or gone
        return False
    if month is not None:
        rollup = CounterRollup(payments.client, payments.table, payments.layout.counter_shards)
        await rollup.lower_first_month(cj.merchant_counter_id(merchant), str(month))
    return True
