"""The rollup: every writer's counter journal folded into one counter item per merchant.

Per rollup shard ``s`` (one owner at a time, by lease: ``paysys.worker.counts``), a pass:

0. reads the shard state ``#js#<s>`` (consistently): ``round`` (the last round whose bounds
   are recorded) and ``done`` (the last round fully applied);
1. if ``round > done``, finishes that round first (a previous owner stopped mid-round);
2. opens round ``r = round + 1``: the writers' registries (the pending-due index under
   ``c#<s>``, read again consistently by id) give each writer's ``upto``;
3. probes each writer's journal from ``upto + 1`` (consistent batch reads) for the contiguous
   prefix it has put, ending at ``b``; where ``b > upto`` it records the bounds on the
   registry (``from = upto, upto = b, round = r``, conditional on ``upto`` unchanged, or on
   exactly these values: a retry whose reply was lost), then ``round = r`` on the state;
4. applies round ``r``: sums the journal items ``(from, upto]`` of every registry in round
   ``r`` per merchant and ADDs the sums to ``#count#<merchant>`` and the shard's platform
   totals ``#countp#<s>``, each update setting ``rnd = r`` on condition ``rnd < r`` (a failed
   condition: already applied in this round); then ``done = r`` on the state;
5. removes the registries of writers that closed and were applied to their end.

Bounds are recorded before anything is applied and each counter item takes a round once, so
each journal item is applied exactly once whatever step a crash interrupts: the next pass
resumes at step 1. Registries of killed writers expire by TTL (refreshed by a live writer).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any

import structlog
from aiodynamo.client import Client
from aiodynamo.errors import ConditionalCheckFailed, ItemNotFound
from aiodynamo.expressions import F, HashKey
from aiodynamo.models import ReturnValues, Select

from paysys.adapters import counter_journal as cj
from paysys.adapters.dynamodb_items import PENDING_INDEX, batch_get, dynamo_translated

log = structlog.get_logger(__name__)

PROBE = 64  # at most this many journal ids asked per writer and read
MAX_PER_ROUND = 1000  # journal items per writer taken into one round


@dataclass(slots=True)
class Registry:
    writer_id: str
    upto: int
    start: int = 0  # ``from``: the round's items are (start, upto]
    round: int = 0
    closed: int | None = None

    @classmethod
    def of(cls, item: dict[str, Any]) -> Registry:
        closed = item.get("closed")
        return cls(
            str(item["due_at"]),
            int(item.get("upto", 0)),
            int(item.get("from", 0)),
            int(item.get("round", 0)),
            None if closed is None else int(closed),
        )


class CounterRollup:
    def __init__(self, client: Client, table: str, shards: int, concurrency: int = 16) -> None:
        self._client, self._table, self.shards = client, table, shards
        self._limit = asyncio.Semaphore(concurrency)

    async def shard_pass(self, shard: int) -> int:
        """Steps 0-5 for one shard; the number of journal items applied."""
        applied = 0
        state = await self._state(shard)
        if state[0] > state[1]:
            applied += await self.apply(shard, state[0])
        r = state[0] + 1
        if await self.bound(shard, r):
            applied += await self.apply(shard, r)
        await self.cleanup(shard)
        return applied

    async def _state(self, shard: int) -> tuple[int, int]:
        try:
            async with dynamo_translated("GetItem"):
                item = await self._client.get_item(
                    self._table, {"id": cj.state_id(shard)}, consistent_read=True
                )
        except ItemNotFound:
            return 0, 0
        return int(item.get("round", 0)), int(item.get("done", 0))

    async def registries(self, shard: int) -> list[Registry]:
        """Every writer registered in ``shard``, read consistently."""
        ids: list[str] = []
        condition = HashKey("pending_shard", cj.registry_hash(shard))
        query = self._client.query(
            self._table, condition, index=PENDING_INDEX, select=Select.all_projected_attributes
        )
        while True:
            async with dynamo_translated("Query"):
                try:
                    item = await anext(query)
                except StopAsyncIteration:
                    break
            ids.append(str(item["id"]))
        items = await batch_get(self._client, self._table, ids, consistent=True)
        return [Registry.of(i) for i in items.values()]

    async def bound(self, shard: int, r: int) -> bool:
        """Steps 2-3: record round ``r``'s bounds; True if it has anything to apply."""
        registries = await self.registries(shard)
        moved = await self._bounded(
            self._bound_writer(shard, reg, r) for reg in registries if reg.round != r
        )
        if not moved and all(reg.round != r for reg in registries):
            return False
        try:
            async with dynamo_translated("UpdateItem"):
                await self._client.update_item(
                    self._table,
                    {"id": cj.state_id(shard)},
                    F("kind").set("rollup_state") & F("round").set(r),
                    condition=F("round").does_not_exist()
                    | F("round").equals(r - 1)
                    | F("round").equals(r),
                )
        except ConditionalCheckFailed:
            log.warning("counts.round_taken", shard=shard, round=r)  # another owner's round
            return False
        return True

    async def _bounded(self, calls: Any) -> bool:
        results = await asyncio.gather(*calls)
        return any(results)

    async def _bound_writer(self, shard: int, reg: Registry, r: int) -> bool:
        end = await self._prefix_end(shard, reg.writer_id, reg.upto)
        if end == reg.upto:
            return False
        update = F("from").set(reg.upto) & F("upto").set(end) & F("round").set(r)
        same = F("round").equals(r) & F("from").equals(reg.upto) & F("upto").equals(end)
        try:
            async with dynamo_translated("UpdateItem"):
                await self._client.update_item(
                    self._table,
                    {"id": cj.registry_id(shard, reg.writer_id)},
                    update,
                    condition=F("upto").equals(reg.upto) | same,
                )
        except ConditionalCheckFailed:
            log.warning("counts.bounds_taken", shard=shard, writer=reg.writer_id, round=r)
            return False
        return True

    async def _prefix_end(self, shard: int, writer: str, upto: int) -> int:
        """The end of the writer's contiguous journal after ``upto``. A missing item is billed
        as a read too, so the probe starts at one id and doubles while all are found: an idle
        writer costs one read a round, a busy one about twice what it wrote."""
        end, probe = upto, 1
        while end - upto < MAX_PER_ROUND:
            ids = [cj.journal_id(shard, writer, seq) for seq in range(end + 1, end + probe + 1)]
            found = await batch_get(self._client, self._table, ids, consistent=True)
            for journal in ids:
                if journal not in found:
                    return end
                end += 1
            probe = min(2 * probe, PROBE)
        return end

    async def apply(self, shard: int, r: int) -> int:
        """Step 4: apply round ``r`` (again: what was applied is recognised); then done."""
        registries = [reg for reg in await self.registries(shard) if reg.round == r]
        ids = [
            cj.journal_id(shard, reg.writer_id, seq)
            for reg in registries
            for seq in range(reg.start + 1, reg.upto + 1)
        ]
        items = await batch_get(self._client, self._table, ids, consistent=True)
        if len(items) < len(ids):  # expired by TTL: counts lost, said loudly
            log.error("counts.journal_missing", shard=shard, round=r, missing=len(ids) - len(items))
        sums = cj.total(str(i["e"]) for i in items.values())
        platform = cj.Delta.zero()
        for delta in sums.values():
            platform.add(delta)
        updates: list[Awaitable[None]] = [
            self._add(cj.merchant_counter_id(m), r, d, {"merchant_id": m})
            for m, d in sums.items()
            if not d.empty
        ]
        if not platform.empty:
            updates.append(self._add(cj.platform_counter_id(shard), r, platform, {}))
        await asyncio.gather(*updates)
        async with dynamo_translated("UpdateItem"):
            await self._client.update_item(
                self._table,
                {"id": cj.state_id(shard)},
                F("done").set(r),
                condition=F("round").gte(r),
            )
        log.info("counts.rolled_up", shard=shard, round=r, items=len(items), merchants=len(sums))
        return len(items)

    async def _add(self, counter: str, r: int, delta: cj.Delta, extra: dict[str, str]) -> None:
        update = F("kind").set("counter") & F("rnd").set(r)
        for name, value in extra.items():
            update = update & F(name).set(value)
        for status, n in delta.by_status().items():
            if n:
                update = update & F(f"n_{status.value}").add(n)
        if delta.first_month is not None:
            update = update & F("first_month").set_if_not_exists(delta.first_month)
        async with self._limit:
            try:
                async with dynamo_translated("UpdateItem"):
                    item = await self._client.update_item(
                        self._table,
                        {"id": counter},
                        update,
                        condition=F("rnd").does_not_exist() | F("rnd").lt(r),
                        return_values=ReturnValues.all_new,
                    )
            except ConditionalCheckFailed:
                return  # this round was applied here before (a retry, or a resumed round)
            month = delta.first_month
            if month is not None and item and str(item.get("first_month", month)) > month:
                await self.lower_first_month(counter, month)

    async def lower_first_month(self, counter: str, month: str) -> None:
        """Keep the minimum (a backfilled older payment): listing must reach it."""
        try:
            async with dynamo_translated("UpdateItem"):
                await self._client.update_item(
                    self._table,
                    {"id": counter},
                    F("first_month").set(month),
                    condition=F("first_month").gt(month),
                )
        except ConditionalCheckFailed:
            pass  # lowered further meanwhile

    async def behind(self, shard: int) -> int:
        """Journal items put but not yet applied in ``shard``, plus 1 for a round left
        unfinished (0: every count journalled so far is in the counter items)."""
        round_no, done = await self._state(shard)
        regs = await self.registries(shard)
        ends = await asyncio.gather(
            *(self._prefix_end(shard, reg.writer_id, reg.upto) for reg in regs)
        )
        return sum(end - reg.upto for end, reg in zip(ends, regs, strict=True)) + int(
            round_no > done
        )

    async def cleanup(self, shard: int) -> int:
        """Step 5: remove the registries of closed writers applied to their end (only where
        their last round is done: an owner that overlapped ours may still be applying it)."""
        gone = 0
        done = (await self._state(shard))[1]
        for reg in await self.registries(shard):
            if reg.closed is None or reg.upto != reg.closed or reg.round > done:
                continue
            try:
                async with dynamo_translated("DeleteItem"):
                    await self._client.delete_item(
                        self._table,
                        {"id": cj.registry_id(shard, reg.writer_id)},
                        condition=F("closed").equals(reg.closed) & F("upto").equals(reg.closed),
                    )
            except ConditionalCheckFailed:
                continue
            gone += 1
        return gone
