"""Building the per-merchant webhook index (``adapters.webhook_index``) for the endpoints
registered before it existed, once.

One scan, filtered to endpoint and index items (``kind`` = ``webhook_endpoint`` or
``webhook_index``), collects each merchant's occupied slots that its index does not list (at
most ``WEBHOOK_ENDPOINTS_MAX`` per merchant: the map is small beside the table); then, per
such merchant, one UpdateItem ADDs them to its index item. A set ADD is idempotent: a retried
write whose reply was lost, or one racing a registration that writes the same slot, is
harmless; a second run finds nothing missing and writes nothing. (A slot deleted between the
scan and the write would be listed without its item: the worker reads one missing slot more,
and finds nothing there.) Until it has run, the worker
sees no endpoints for such a merchant (the API's reads still read the slots), so ``paysys
provision`` runs it each time, before and after a rollout.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import AsyncIterator
from typing import Any

from aiodynamo.client import Client
from aiodynamo.expressions import F

from paysys.adapters.dynamodb_items import dynamo_translated, translated_scan
from paysys.adapters.webhook_index import INDEX_KIND, INDEX_PREFIX, index_add, slots_of
from paysys.adapters.webhook_store import KIND


async def unindexed_slots(items: AsyncIterator[dict[str, Any]]) -> dict[str, set[int]]:
    """Merchant -> the slots its endpoint items occupy that its index does not list."""
    occupied: dict[str, set[int]] = defaultdict(set)
    indexed: dict[str, frozenset[int]] = {}
    async for item in items:
        if item["kind"] == INDEX_KIND:
            indexed[str(item["id"]).removeprefix(INDEX_PREFIX)] = slots_of(item)
        else:
            occupied[str(item["merchant_id"])].add(int(str(item["id"]).rpartition("#")[2]))
    missing = {m: slots - indexed.get(m, frozenset()) for m, slots in occupied.items()}
    return {merchant: slots for merchant, slots in missing.items() if slots}


async def build_webhook_index(client: Client, table: str) -> int:
    """Index the endpoints no index lists yet; the number of merchants written."""
    kinds = F("kind").equals(KIND) | F("kind").equals(INDEX_KIND)
    missing = await unindexed_slots(translated_scan(client.scan(table, filter_expression=kinds)))
    for merchant, slots in sorted(missing.items()):
        update = index_add(table, merchant, slots)
        async with dynamo_translated("UpdateItem"):
            await client.update_item(table, update.key, update.expression)
    return len(missing)
