"""The writer side of the counts behind ``/stats``: a journal per process and rollup shard.

A process buffers the count deltas of the transitions it makes, per merchant, and every
``flush_seconds`` (PAYSYS_COUNTER_FLUSH_SECONDS; 0: after each count) groups the merchants by
rollup shard and puts, per shard, journal items ``#j#<s>#<writer>#<seq>`` holding as many
entries as fit in ~900 bytes (``paysys.adapters.counter_journal``). The rollup in the worker
role folds every writer's journal into one counter item per merchant (``counter_rollup``).
So a flush costs about one write per shard, not one per merchant: the cost is independent
of how many merchants a process sees.

The rollup reads a writer's journal as the contiguous prefix 1..k of its sequence, so the
puts of one (writer, shard) go strictly one at a time, in order, and a put whose reply was
lost (``BackendUnavailable``) is sent again unchanged (same id, same content: idempotent)
before anything newer. Before its first item for a shard the writer registers there (an
upsert that keeps ``upto``), refreshing that registry at most every 12 hours while it writes
(journal items and registries expire by TTL after ``ttl_seconds``); a clean close flushes and
marks its registries ``closed``. A killed process loses only its unflushed buffer.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import secrets
import time
from collections import deque
from collections.abc import Callable
from datetime import datetime

import structlog
from aiodynamo.client import Client
from aiodynamo.errors import ConditionalCheckFailed
from aiodynamo.expressions import F

from paysys.adapters import counter_journal as cj
from paysys.adapters.dynamodb_items import dynamo_translated
from paysys.core import partition_keys
from paysys.core.domain import PaymentStatus
from paysys.errors import BackendUnavailable

log = structlog.get_logger(__name__)

TTL_ATTRIBUTE = "expires_at"  # the table's TTL attribute (``paysys.ops.infra.model``)
JOURNAL_TTL_SECONDS = 3 * 86400
REFRESH_SECONDS = 12 * 3600


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


class CounterWriter:
    def __init__(
        self,
        client: Client,
        table: str,
        shards: int,
        flush_seconds: float = 0.0,
        *,
        ttl_seconds: int = JOURNAL_TTL_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._client, self._table, self._shards = client, table, shards
        self.flush_seconds, self._ttl, self._clock = flush_seconds, ttl_seconds, clock
        self.writer_id = secrets.token_hex(8)  # 64 bits: two processes never share one
        self._buffer: dict[str, cj.Delta] = {}
        self._unsent: dict[int, deque[tuple[int, str]]] = {}  # per shard: (seq, body), in order
        self._seq: dict[int, int] = {}  # per shard: the last seq given to a body
        self._refreshed: dict[int, float] = {}  # per shard: when its registry was last upserted
        self._timer: asyncio.Task[None] | None = None
        self._flushing = asyncio.Lock()
        self.flushes = 0

    @property
    def buffered(self) -> dict[str, dict[str, int]]:
        """The deltas not yet known written, per merchant and counter field."""
        bodies = [body for queue in self._unsent.values() for _, body in queue]
        merged = cj.total(bodies)
        for merchant, delta in self._buffer.items():
            merged.setdefault(merchant, cj.Delta.zero()).add(delta)
        return {
            m: {f"n_{s.value}": n for s, n in d.by_status().items() if n} for m, d in merged.items()
        }

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
        month = partition_keys.month_of(created_at) if first else None
        self._buffer.setdefault(merchant_id, cj.Delta.zero()).add(cj.Delta.of(deltas, month))
        if self.flush_seconds <= 0:
            await self.flush()
        elif self._timer is None:
            self._start_timer()

    async def flush(self) -> None:
        """Journal what is buffered now; what failed before is sent again first, unchanged.
        Never raises: a failure is logged and its items wait for the next flush."""
        async with self._flushing:
            buffer, self._buffer = self._buffer, {}
            by_shard: dict[int, dict[str, cj.Delta]] = {}
            for merchant, delta in buffer.items():
                shard = partition_keys.shard_of(merchant, self._shards)
                by_shard.setdefault(shard, {})[merchant] = delta
            for shard, deltas in by_shard.items():
                queue = self._unsent.setdefault(shard, deque())
                for body in cj.pack(deltas):
                    self._seq[shard] = self._seq.get(shard, 0) + 1
                    queue.append((self._seq[shard], body))
            shards = [s for s, queue in self._unsent.items() if queue]
            results = await asyncio.gather(
                *(self._send_shard(s) for s in shards), return_exceptions=True
            )
            self.flushes += 1
        for shard, result in zip(shards, results, strict=True):
            if isinstance(result, BaseException):
                log.warning("counts.flush_failed", shard=shard, error=str(result))
        if any(self._unsent.values()) and self._timer is None and self.flush_seconds > 0:
            self._start_timer()

    async def _send_shard(self, shard: int) -> None:
        queue = self._unsent[shard]
        while queue:
            seq, body = queue[0]
            await self._register(shard, seq)
            item = {
                "id": cj.journal_id(shard, self.writer_id, seq),
                "kind": "journal",
                "e": body,
                TTL_ATTRIBUTE: int(self._clock()) + self._ttl,
            }
            async with dynamo_translated("PutItem"):
                await self._client.put_item(self._table, item)  # the same item if sent again
            queue.popleft()

    async def _register(self, shard: int, seq: int) -> None:
        """Upsert this writer's registry for ``shard`` before its first item there and then
        at most every 12 hours (keeps ``upto``; a registry gone by TTL after a long idle time
        comes back with ``upto`` = the last item put, all of which were rolled up)."""
        now = self._clock()
        if now - self._refreshed.get(shard, -REFRESH_SECONDS - 1.0) <= REFRESH_SECONDS:
            return
        update = (
            F("kind").set("journal_writer")
            & F("pending_shard").set(cj.registry_hash(shard))
            & F("due_at").set(self.writer_id)
            & F("upto").set_if_not_exists(seq - 1)
            & F("seen_at").set(int(now))
            & F(TTL_ATTRIBUTE).set(int(now) + self._ttl)
        )
        async with dynamo_translated("UpdateItem"):
            await self._client.update_item(
                self._table, {"id": cj.registry_id(shard, self.writer_id)}, update
            )
        self._refreshed[shard] = now

    async def close(self) -> None:
        """Stop the timer and journal what is left (a role stopping flushes its counts), then
        mark each registry ``closed`` at the last seq put, so the rollup removes it once it
        has applied that far (a writer with items still unsent leaves its registry open)."""
        if self._timer is not None:
            self._timer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._timer
            self._timer = None
        await self.flush()
        done = [s for s in self._refreshed if not self._unsent.get(s)]
        await asyncio.gather(*(self._close_shard(s) for s in done))

    async def _close_shard(self, shard: int) -> None:
        try:
            async with dynamo_translated("UpdateItem"):
                await self._client.update_item(
                    self._table,
                    {"id": cj.registry_id(shard, self.writer_id)},
                    F("closed").set(self._seq.get(shard, 0)),
                    condition=F("id").exists(),
                )
        except (BackendUnavailable, ConditionalCheckFailed) as exc:
            log.warning("counts.close_failed", shard=shard, error=repr(exc))

    def _start_timer(self) -> None:
        # A context of its own: the flush belongs to no request (its logs, its trace).
        self._timer = asyncio.create_task(self._flush_later(), context=contextvars.Context())

    async def _flush_later(self) -> None:
        await asyncio.sleep(self.flush_seconds)  # the linger that gathers the counts
        self._timer = None
        await self.flush()
