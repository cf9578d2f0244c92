"""The counter items ``#count#<merchant>#<shard>`` behind ``/stats``, written with atomic
``ADD``s by the calls that made the transitions.

With ``flush_seconds`` > 0 (PAYSYS_COUNTER_FLUSH_SECONDS) a process coalesces its counts: the
deltas of every transition it makes are summed per merchant and written once per flush, one
``UpdateItem`` per merchant, to this process's own counter shard (picked from its writer id,
so processes spread over the shards). At 10,000 payments/s that is one counter write per
process, merchant and flush instead of two per payment. With 0, each transition writes its
own counts at once, to the shard of its payment id.

An ``ADD`` is not idempotent, so every counter write carries this writer's sequence number
for that item (``w#<writer>``, one small attribute per live writer of the item), conditioned
on being newer than the last one applied: a write whose reply was lost and that is sent again
(by aiodynamo, or by the next flush, which re-sends a failed write unchanged before any new
deltas) fails its condition when it had committed, and is then known applied, never applied
twice. A writer's writes to one item go one at a time, so the numbers arrive in order. The
deltas still buffered when a process is killed (not stopped: a stop flushes) are lost, which
bounds the error by one flush's worth per killed process.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import operator
import secrets
from collections import Counter
from collections.abc import Mapping
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


def writer_attribute(writer_id: str) -> str:
    """The attribute of a counter item holding ``writer_id``'s last sequence number."""
    return f"w#{writer_id}"


def counter_changes(
    merchant_id: str, writer_id: str, seq: int, deltas: Mapping[str, int]
) -> tuple[dict[str, str | int], dict[str, int]]:
    """(set, add) of one counter write (``first_month`` aside: set only where absent)."""
    sets: dict[str, str | int] = {
        "kind": "counter", "merchant_id": merchant_id, writer_attribute(writer_id): seq,
    }  # fmt: skip
    return sets, {name: delta for name, delta in deltas.items() if delta}


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


@dataclass(frozen=True, slots=True)
class _Write:
    """One counter write, kept unchanged until it is known applied (its ``seq`` is its
    identity: sent again, it is recognised if it had committed)."""

    merchant_id: str
    counter: str
    seq: int
    deltas: Counter[str]
    first_month: str | None


class CounterWriter:
    def __init__(self, client: Client, table: str, shards: int, flush_seconds: float = 0.0) -> None:
        self._client, self._table, self._shards = client, table, shards
        self.flush_seconds = flush_seconds
        self.writer_id = secrets.token_hex(8)  # 64 bits: two processes never share one
        self._shard = partition_keys.shard_of(self.writer_id, shards)
        self._buffer: dict[str, _Buffered] = {}
        self._unconfirmed: dict[str, _Write] = {}  # per merchant: a failed write, to resend
        self._seq: Counter[str] = Counter()  # per counter item: this writer's last number
        self._item_locks: dict[str, asyncio.Lock] = {}
        self._timer: asyncio.Task[None] | None = None
        self._flushing = asyncio.Lock()
        self.flushes = 0

    @property
    def buffered(self) -> dict[str, dict[str, int]]:
        """The deltas not yet known written, per merchant and counter field."""
        merged: dict[str, Counter[str]] = {}
        for merchant, write in self._unconfirmed.items():
            merged.setdefault(merchant, Counter()).update(write.deltas)
        for merchant, buffered in self._buffer.items():
            merged.setdefault(merchant, Counter()).update(buffered.deltas)
        return {m: {k: v for k, v in d.items() if v} for m, d in merged.items()}

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
                await self._send(self._next(merchant_id, counter, fields, month))
            except BackendUnavailable as exc:
                log.warning("payment.count_failed", payment_id=payment_id, error=str(exc))
            return
        self._buffer.setdefault(merchant_id, _Buffered()).merge(fields, month)
        if self._timer is None:
            self._start_timer()

    async def flush(self) -> None:
        """Write what is buffered now: one ADD per merchant, to this writer's shard; a write
        that failed before is sent again first, unchanged."""
        async with self._flushing:
            buffer, self._buffer = self._buffer, {}
            merchants = set(buffer) | set(self._unconfirmed)
            if not merchants:
                return
            results = await asyncio.gather(
                *(self._flush_merchant(m, buffer.get(m)) for m in merchants),
                return_exceptions=True,
            )
            self.flushes += 1
        for merchant, result in zip(merchants, results, strict=True):
            if isinstance(result, BaseException):
                log.warning("counts.flush_failed", merchant_id=merchant, error=str(result))
        if (self._buffer or self._unconfirmed) and self._timer is None:
            self._start_timer()

    async def _flush_merchant(self, merchant_id: str, buffered: _Buffered | None) -> None:
        if (pending := self._unconfirmed.get(merchant_id)) is not None:
            try:
                await self._send(pending)
            except BackendUnavailable:
                if buffered is not None:  # still unknown: new deltas wait for the next flush
                    self._buffer.setdefault(merchant_id, _Buffered()).merge(
                        buffered.deltas, buffered.first_month
                    )
                raise
            del self._unconfirmed[merchant_id]
        if buffered is None:
            return
        counter = partition_keys.counter_id(merchant_id, self._shard)
        write = self._next(merchant_id, counter, buffered.deltas, buffered.first_month)
        try:
            await self._send(write)
        except BackendUnavailable:
            self._unconfirmed[merchant_id] = write  # sent again as it is: it may have committed
            raise

    async def close(self) -> None:
        """Stop the timer and write what is left (a role stopping flushes its counts), then
        take this writer's sequence attribute off the items it wrote, so that items do not
        keep one per process that ever ran (only a killed process leaves its own)."""
        if self._timer is not None:
            self._timer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._timer
            self._timer = None
        await self.flush()
        if self._unconfirmed:
            return  # still unknown: the attribute must stay to recognise them if re-sent
        await asyncio.gather(*(self._forget(counter) for counter in list(self._seq)))

    async def _forget(self, counter: str) -> None:
        try:
            async with dynamo_translated("UpdateItem"):
                await self._client.update_item(
                    self._table,
                    {"id": counter},
                    F(writer_attribute(self.writer_id)).remove(),
                    condition=F("id").exists(),
                )
        except (BackendUnavailable, ConditionalCheckFailed) as exc:
            log.warning("counts.cleanup_failed", counter=counter, error=repr(exc))

    def _start_timer(self) -> None:
        # A context of its own: the flush belongs to no request (its logs, its trace).
        self._timer = asyncio.create_task(self._flush_later(), context=contextvars.Context())

    async def _flush_later(self) -> None:
        await asyncio.sleep(self.flush_seconds)  # the linger that coalesces the counts
        self._timer = None
        await self.flush()

    def _next(
        self, merchant_id: str, counter: str, deltas: Counter[str], first_month: str | None
    ) -> _Write:
        self._seq[counter] += 1
        return _Write(merchant_id, counter, self._seq[counter], Counter(deltas), first_month)

    async def _send(self, write: _Write) -> None:
        if write.first_month is None and not any(write.deltas.values()):
            return  # e.g. created and decided within one flush, by one process
        mine = F(writer_attribute(self.writer_id))
        sets, adds = counter_changes(write.merchant_id, self.writer_id, write.seq, write.deltas)
        update = functools.reduce(
            operator.and_,
            [F(name).set(value) for name, value in sets.items()]
            + [F(name).add(delta) for name, delta in adds.items()],
        )
        if write.first_month is not None:
            update = update & F("first_month").set_if_not_exists(write.first_month)
        lock = self._item_locks.setdefault(write.counter, asyncio.Lock())
        async with lock:  # this writer's numbers reach the item in order
            try:
                async with dynamo_translated("UpdateItem"):
                    item = await self._client.update_item(
                        self._table,
                        {"id": write.counter},
                        update,
                        condition=mine.does_not_exist() | mine.lt(write.seq),
                        return_values=ReturnValues.all_new,
                    )
            except ConditionalCheckFailed:
                log.info("counts.write_confirmed", counter=write.counter, seq=write.seq)
                return  # this very write committed before (its reply was lost): applied once
        if write.first_month is None or item is None:
            return
        if str(item.get("first_month", write.first_month)) > write.first_month:
            await self._lower_first_month(write.counter, write.first_month)

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
