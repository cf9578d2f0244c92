"""The counter items ``#count#<merchant>#<shard>`` behind ``/stats``, written with atomic
``ADD``s by the calls that made the transitions.

With ``flush_seconds`` > 0 (PAYSYS_COUNTER_FLUSH_SECONDS) a process coalesces its counts: the
deltas of every transition it makes are summed per merchant and written once per flush, one
``UpdateItem`` per merchant, to the next counter shard in turn. At 10,000 payments/s that
is one counter write per process, merchant and flush instead of two per payment, and the writes
spread over the shards by rotation rather than by payment id. A flush that fails keeps its
deltas for the next one; the deltas still buffered when a process is killed (not stopped: a
stop flushes) are lost, which bounds the error by one flush's worth per killed process.
With 0, each transition writes its own counts at once, to the shard of its payment id.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

import structlog
from aiodynamo.client import Client
from aiodynamo.errors import ConditionalCheckFailed
from aiodynamo.expressions import F
from aiodynamo.models import ReturnValues

from paysys.adapters.dynamodb_items import counter_field, dynamo_translated
from paysys.core import partition_keys
from paysys.core.domain import PaymentStatus
from paysys.errors import BackendUnavailable

log = structlog.get_logger(__name__)


class CountedOnce:
    """The tokens of the writes this process has counted lately (a bounded memory): a write
    recognised as its own earlier success is counted only if that attempt was not."""

    def __init__(self, capacity: int = 4096) -> None:
        self._seen: dict[str, None] = {}
        self._capacity = capacity

    def first(self, token: str) -> bool:
        """True the first time ``token`` is seen (then remembered); False after."""
        if token in self._seen:
            return False
        self._seen[token] = None
        if len(self._seen) > self._capacity:
            del self._seen[next(iter(self._seen))]
        return True


@dataclass(slots=True)
class _Buffered:
    deltas: Counter[str] = field(default_factory=Counter)  # counter field -> delta
    first_month: str | None = None  # earliest month of a payment counted for the first time

    def merge(self, deltas: Counter[str], first_month: str | None) -> None:
        self.deltas.update(deltas)
        if first_month is not None:
            self.first_month = min(self.first_month or first_month, first_month)


class CounterWriter:
    def __init__(self, client: Client, table: str, shards: int, flush_seconds: float = 0.0) -> None:
        self._client, self._table, self._shards = client, table, shards
        self.flush_seconds = flush_seconds
        self._buffer: dict[str, _Buffered] = {}
        self._timer: asyncio.Task[None] | None = None
        self._flushing = asyncio.Lock()
        self._rotation = random.randrange(shards)  # noqa: S311 - spreads writers, not a secret
        self.flushes = 0

    @property
    def buffered(self) -> dict[str, dict[str, int]]:
        """The deltas waiting for a flush, per merchant and counter field."""
        return {m: {k: v for k, v in b.deltas.items() if v} for m, b in self._buffer.items()}

    async def count(
        self,
        merchant_id: str,
        payment_id: str,
        created_at: datetime,
        deltas: dict[PaymentStatus, int],
        *,
        first: bool = False,
    ) -> None:
        """Count one payment's transition (``first``: the payment is new to the counters)."""
        fields = Counter({counter_field(s): d for s, d in deltas.items()})
        month = partition_keys.month_of(created_at) if first else None
        if self.flush_seconds <= 0:
            counter = partition_keys.counter_id_of(merchant_id, payment_id, self._shards)
            try:
                await self._write(merchant_id, counter, fields, month)
            except BackendUnavailable as exc:
                log.warning("payment.count_failed", payment_id=payment_id, error=str(exc))
            return
        self._buffer.setdefault(merchant_id, _Buffered()).merge(fields, month)
        if self._timer is None:
            self._start_timer()

    async def flush(self) -> None:
        """Write what is buffered now: one ADD per merchant, to the next shard in turn."""
        async with self._flushing:
            buffer, self._buffer = self._buffer, {}
            if not buffer:
                return
            self._rotation += 1
            shard = self._rotation % self._shards
            merchants = list(buffer)
            results = await asyncio.gather(
                *(
                    self._write(m, partition_keys.counter_id(m, shard), b.deltas, b.first_month)
                    for m, b in buffer.items()
                ),
                return_exceptions=True,
            )
            self.flushes += 1
        for merchant, result in zip(merchants, results, strict=True):
            if isinstance(result, BaseException):
                log.warning("counts.flush_failed", merchant_id=merchant, error=str(result))
                kept = buffer[merchant]
                self._buffer.setdefault(merchant, _Buffered()).merge(kept.deltas, kept.first_month)
        if self._buffer and self._timer is None:
            self._start_timer()

    async def close(self) -> None:
        """Stop the timer and write what is left (a role stopping flushes its counts)."""
        if self._timer is not None:
            self._timer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._timer
            self._timer = None
        await self.flush()

    def _start_timer(self) -> None:
        # A context of its own: the flush belongs to no request (its logs, its trace).
        self._timer = asyncio.create_task(self._flush_later(), context=contextvars.Context())

    async def _flush_later(self) -> None:
        await asyncio.sleep(self.flush_seconds)  # the linger that coalesces the counts
        self._timer = None
        await self.flush()

    async def _write(
        self, merchant_id: str, counter: str, deltas: Counter[str], first_month: str | None
    ) -> None:
        if first_month is None and not any(deltas.values()):
            return  # e.g. created and decided within one flush, by one process
        update = F("kind").set("counter") & F("merchant_id").set(merchant_id)
        for name, delta in deltas.items():
            if delta:
                update = update & F(name).add(delta)
        if first_month is not None:
            update = update & F("first_month").set_if_not_exists(first_month)
        async with dynamo_translated("UpdateItem"):
            item = await self._client.update_item(
                self._table, {"id": counter}, update, return_values=ReturnValues.all_new
            )
        if first_month is None or item is None:
            return
        if str(item.get("first_month", first_month)) > first_month:
            await self._lower_first_month(counter, first_month)

    async def _lower_first_month(self, counter: str, month: str) -> None:
        """A payment older than the shard's first month (the migration's backfill, or two
        pods' clocks across a month's end): keep the minimum, so listing reaches it. Rare:
        payments normally arrive in time order, and this needs no write then."""
        with contextlib.suppress(ConditionalCheckFailed):  # lowered further meanwhile
            async with dynamo_translated("UpdateItem"):
                await self._client.update_item(
                    self._table,
                    {"id": counter},
                    F("first_month").set(month),
                    condition=F("first_month").gt(month),
                )
