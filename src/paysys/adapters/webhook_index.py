"""The per-merchant webhook index: which of a merchant's endpoint slots are occupied.

``#webhooks#<merchant>`` (``kind`` = ``webhook_index``) carries ``slots``, a number set of
the occupied slot numbers (DynamoDB stores no empty set: no endpoints, no ``slots``; no item
at all means the same). It is written only together with a slot item, in one
``TransactWriteItems`` (``webhook_store``): a registration puts the slot and ADDs its number,
a delete removes the slot and DELETEs its number, so the index never says other than the
slots. Both are set operations, so applying one twice changes nothing more.

Why: the worker looks a merchant's endpoints up for every outcome event, and most merchants
have none. One eventually consistent GetItem of this item (0.5 read units) says so; only the
listed slots are read after it (0.5 each), instead of all ``WEBHOOK_ENDPOINTS_MAX`` (2.5).
Its largest form (a merchant id of ``MERCHANT_ID_MAX_BYTES``, every slot) is under 100 bytes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from aiodynamo.expressions import F
from aiodynamo.operations import Update

INDEX_PREFIX = "#webhooks#"
INDEX_KIND = "webhook_index"
SLOTS = "slots"


def index_id(merchant_id: str) -> str:
    return f"{INDEX_PREFIX}{merchant_id}"


def index_item(merchant_id: str, slots: Iterable[int]) -> dict[str, Any]:
    """The index item as stored when ``slots`` are occupied (sizes, tests)."""
    occupied = set(slots)
    return {"id": index_id(merchant_id), "kind": INDEX_KIND} | (
        {SLOTS: occupied} if occupied else {}
    )


def slots_of(item: Mapping[str, Any] | None) -> frozenset[int]:
    """The occupied slots an index item lists (none for no item)."""
    if item is None or item.get("kind") != INDEX_KIND:
        return frozenset()
    return frozenset(int(slot) for slot in item.get(SLOTS, ()))


def index_add(table: str, merchant_id: str, slots: Iterable[int]) -> Update:
    """The index's part of a registration (or of the migration): ``slots`` occupied."""
    numbers: set[float | int | Decimal] = set(slots)
    return Update(
        table, {"id": index_id(merchant_id)}, F("kind").set(INDEX_KIND) & F(SLOTS).add(numbers)
    )


def index_remove(table: str, merchant_id: str, slot: int) -> Update:
    """The index's part of a delete: ``slot`` free (the item stays, maybe without slots)."""
    return Update(
        table, {"id": index_id(merchant_id)}, F("kind").set(INDEX_KIND) & F(SLOTS).delete({slot})
    )
