"""Newest-first listing of one merchant's payments over the sharded, month-bucketed index.

A month's payments are spread over ``shards`` partition key values (``<merchant>#<month>#<n>``);
a page merges them: each shard is read newest first in small pages, the newest head wins, and a
shard is read further only when its buffer runs dry. So a page of ``limit`` reads about
``limit + 2 * shards`` index keys, then the payments themselves by id (consistent reads, so a
page shows each payment's current status), whatever the table holds. A position is the sort key
``<created_at>#<id>`` of the last payment examined: newer inserts sort before it, so pages stay
stable while payments are created. An empty month costs one small query per shard; a page walks
back at most ``MAX_MONTHS_PER_PAGE`` months, and never past the merchant's first month.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any

from aiodynamo.client import Client
from aiodynamo.expressions import HashKey, KeyCondition, RangeKey
from aiodynamo.models import Select

from paysys.adapters.dynamodb_items import LIST_INDEX, batch_get, dynamo_translated, from_item
from paysys.core import partition_keys
from paysys.core.domain import Payment, PaymentStatus
from paysys.core.ports import ListPage, ListPosition

MAX_MONTHS_PER_PAGE = 3
FILTER_BUDGET = 5  # with a status filter, examine at most 5 x limit payments per page


class _Shard:
    def __init__(self, client: Client, table: str, pk: str, after: str | None) -> None:
        self._client, self._table = client, table
        partition = HashKey("list_pk", pk)
        self._condition: KeyCondition = (
            partition if after is None else partition & RangeKey("list_sk").lt(after)
        )
        self.buffer: deque[tuple[str, str]] = deque()  # (list_sk, id), newest first
        self._start: dict[str, Any] | None = None
        self.done = False

    async def fill(self, size: int) -> None:
        async with dynamo_translated("Query"):
            page = await self._client.query_single_page(
                self._table,
                self._condition,
                index=LIST_INDEX,
                scan_forward=False,
                limit=size,
                start_key=self._start,
                select=Select.all_projected_attributes,
            )
        self.buffer.extend((item["list_sk"], item["id"]) for item in page.items)
        self._start = page.last_evaluated_key
        self.done = self._start is None


class _MonthMerge:
    """The month's index keys, newest first, across its shards."""

    def __init__(self, shards: list[_Shard], page_size: int) -> None:
        self._shards, self._page_size = shards, page_size
        self.exhausted = False

    async def take(self, count: int) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        while len(out) < count:
            dry = [s for s in self._shards if not s.buffer and not s.done]
            if dry:
                await asyncio.gather(*(s.fill(self._page_size) for s in dry))
            heads = [s for s in self._shards if s.buffer]
            if not heads:
                self.exhausted = True
                break
            newest = max(heads, key=lambda s: s.buffer[0][0])
            out.append(newest.buffer.popleft())
        return out


async def read_page(  # noqa: PLR0917 - the adapter forwards its arguments
    client: Client,
    table: str,
    shards: int,
    merchant_id: str,
    position: ListPosition,
    limit: int,
    oldest_month: str,
    status: PaymentStatus | None,
) -> ListPage:
    found: list[Payment] = []
    month, after = position.month, position.after
    for _ in range(MAX_MONTHS_PER_PAGE):
        pks = [partition_keys.list_pk(merchant_id, month, n) for n in range(shards)]
        merge = _MonthMerge(
            [_Shard(client, table, pk, after) for pk in pks], page_size=limit // shards + 2
        )
        budget = limit if status is None else limit * FILTER_BUDGET
        while len(found) < limit and budget > 0 and not merge.exhausted:
            batch = await merge.take(min(limit, budget))
            budget -= len(batch)
            items = await batch_get(client, table, [pid for _, pid in batch], consistent=True)
            for sort_key, payment_id in batch:
                after = sort_key
                item = items.get(payment_id)
                if item is not None and (status is None or item["status"] == status.value):
                    found.append(from_item(item))
                    if len(found) == limit:
                        break
        if len(found) == limit or not merge.exhausted:
            return ListPage(found, ListPosition(month, after))
        if month <= oldest_month:
            return ListPage(found, None)
        month, after = partition_keys.previous_month(month), None
    return ListPage(found, ListPosition(month, None))
