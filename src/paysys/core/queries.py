"""Read models for people: a merchant's payments newest first, and the numbers the status page
shows. Both cost the same whatever the table holds: a page reads O(limit + shards) items, the
counts one counter item (the platform's totals: one per rollup shard), cached per merchant
and shared by concurrent callers."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from paysys.core.cache import SingleFlight
from paysys.core.domain import PaymentStatus, utcnow
from paysys.core.partition_keys import month_of
from paysys.core.ports import Counts, ListPage, ListPosition, MessageQueue, PaymentRepository


@dataclass
class StatusReader:
    payments: PaymentRepository
    queue: MessageQueue
    dlq: MessageQueue
    cache_seconds: float = 2.0
    now: Callable[[], datetime] = utcnow
    _counts: SingleFlight[Counts] = field(init=False)
    _stats: SingleFlight[dict[str, Any]] = field(init=False)

    def __post_init__(self) -> None:
        self._counts = SingleFlight(self.cache_seconds)
        self._stats = SingleFlight(self.cache_seconds)

    async def page(
        self,
        merchant_id: str,
        limit: int,
        position: ListPosition | None = None,
        status: PaymentStatus | None = None,
    ) -> ListPage:
        """Newest first from ``position`` (None: now), never past the merchant's first month."""
        counts = await self._counts.get(merchant_id, lambda: self.payments.counts(merchant_id))
        start = position or ListPosition(month_of(self.now()))
        oldest = counts.first_month or start.month
        return await self.payments.page(merchant_id, start, limit, oldest, status)

    async def stats(self, merchant_id: str, *, platform: bool = False) -> dict[str, Any]:
        """The merchant's counts by status; with ``platform`` (the operator's view: an open
        API, one user) also the depth of the platform's queue and DLQ, which no merchant
        sees (operators read them on /metrics)."""
        key = f"{merchant_id}|{platform}"
        return await self._stats.get(key, lambda: self._read_stats(merchant_id, platform))

    async def _read_stats(self, merchant_id: str, platform: bool) -> dict[str, Any]:
        if not platform:
            counts = await self.payments.counts(merchant_id)
            return {
                "merchant_id": merchant_id,
                "payments": {s.value: counts.by_status[s] for s in PaymentStatus},
            }
        counts, every, queue, dlq = await asyncio.gather(
            self.payments.counts(merchant_id),
            self.payments.platform_counts(),
            self.queue.depth(),
            self.dlq.depth(),
        )
        return {
            "merchant_id": merchant_id,
            "payments": {s.value: counts.by_status[s] for s in PaymentStatus},
            "platform": {s.value: every.by_status[s] for s in PaymentStatus},
            "queue": {"visible": queue[0], "in_flight": queue[1]},
            "dlq": {"visible": dlq[0]},
        }
