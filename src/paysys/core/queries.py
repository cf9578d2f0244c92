"""Read models for people: recent payments and the numbers the status page shows."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from paysys.core.domain import Payment, PaymentStatus
from paysys.core.ports import MessageQueue, PaymentRepository


@dataclass(frozen=True, slots=True)
class StatusReader:
    payments: PaymentRepository
    queue: MessageQueue
    dlq: MessageQueue

    async def recent(self, limit: int) -> list[Payment]:
        """Newest first, across statuses (one index query per status)."""
        per_status = await asyncio.gather(
            *(self.payments.recent(status, limit) for status in PaymentStatus)
        )
        merged = [p for payments in per_status for p in payments]
        merged.sort(key=lambda p: p.created_at, reverse=True)
        return merged[:limit]

    async def stats(self) -> dict[str, Any]:
        counts, queue, dlq = await asyncio.gather(
            asyncio.gather(*(self.payments.count(s) for s in PaymentStatus)),
            self.queue.depth(),
            self.dlq.depth(),
        )
        return {
            "payments": {s.value: n for s, n in zip(PaymentStatus, counts, strict=True)},
            "queue": {"visible": queue[0], "in_flight": queue[1]},
            "dlq": {"visible": dlq[0]},
        }
