"""The rollup loop in the worker role, next to the reconciler: every
PAYSYS_COUNTER_ROLLUP_SECONDS it walks the rollup shards in random order and, for each shard
whose lease (``counts#<s>``) it wins, runs one pass of ``paysys.adapters.counter_rollup``: one
owner per shard at a time, so running workers divide the shards among them.

The lease lasts several intervals (a pass takes far less), so that an owner is not
overtaken mid-round; a round left unfinished by a stopped owner is finished by the next.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import structlog

from paysys.core.domain import utcnow
from paysys.core.ports import LeaseStore
from paysys.errors import BackendUnavailable

log = structlog.get_logger(__name__)
LEASE_INTERVALS = 4  # a lease lasts this many intervals (and at least LEASE_MIN_SECONDS)
LEASE_MIN_SECONDS = 30.0


class Rollup(Protocol):
    @property
    def shards(self) -> int: ...

    async def shard_pass(self, shard: int) -> int: ...


@dataclass(slots=True)
class RollupStats:
    passes: int = 0
    applied: int = 0  # journal items applied
    failures: int = 0


class CountsRollup:
    def __init__(
        self,
        rollup: Rollup,
        leases: LeaseStore,
        interval_seconds: float,
        *,
        owner: str,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._rollup, self._leases, self._interval = rollup, leases, interval_seconds
        self._owner, self._clock = owner, clock
        self.stats = RollupStats()

    @property
    def lease_seconds(self) -> float:
        return max(LEASE_INTERVALS * self._interval, LEASE_MIN_SECONDS)

    async def run(self, stop: asyncio.Event) -> None:
        log.info("counts.rollup_started", interval_s=self._interval)
        while not stop.is_set():
            try:
                await self.pass_once(stop)
            except BackendUnavailable as exc:
                self.stats.failures += 1
                log.warning("counts.rollup_failed", error=str(exc))
            except Exception:  # the counts must never end the worker: the next pass runs
                self.stats.failures += 1
                log.exception("counts.rollup_crashed")
            with contextlib.suppress(TimeoutError):  # always a pause between passes
                await asyncio.wait_for(stop.wait(), timeout=self._interval)

    async def pass_once(self, stop: asyncio.Event | None = None) -> int:
        """One pass over the shards this worker wins; the journal items applied."""
        shards = list(range(self._rollup.shards))
        random.shuffle(shards)
        total = 0
        for shard in shards:
            if stop is not None and stop.is_set():
                break
            name = f"counts#{shard}"
            if await self._leases.acquire(name, self._owner, self._clock(), self.lease_seconds):
                total += await self._rollup.shard_pass(shard)
        self.stats.passes += 1
        self.stats.applied += total
        return total
