"""What the counts behind ``/stats`` cost in DynamoDB write units (a pure model of
``paysys.adapters.dynamodb_counts`` and ``counter_rollup``, for ``paysys capacity``).

Per second, with ``rate`` payments/s (2 count events each: created, then final), spread
uniformly over ``merchants`` active merchants and ``processes`` writing processes:

- journal: every process, every flush (``flush_seconds``), puts per rollup shard it touched
  ``ceil(entries' bytes / 900)`` items of under 1 KB: 1 write unit each;
- rollup: every round (``rollup_seconds``), one ADD per distinct merchant seen in the round
  and per shard's platform totals, one registry update per writer and shard with new items,
  two state updates per shard.

The distinct merchants among ``e`` events is the uniform-occupancy expectation
``m x (1 - exp(-e / m))``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from paysys.adapters.counter_journal import ENTRY_BYTES

COUNT_EVENTS_PER_PAYMENT = 2
ENTRY_BYTES_TYPICAL = 24  # ``merchant:1,,1,;`` with a ~16-character merchant id


def distinct(events: float, population: float) -> float:
    """Expected distinct values among ``events`` uniform draws from ``population``."""
    if population <= 0 or events <= 0:
        return 0.0
    return population * -math.expm1(-events / population)


@dataclass(frozen=True, slots=True)
class CounterCost:
    journal: float  # write units per second, by part
    rollup_merchants: float
    rollup_registries: float
    rollup_state: float
    reads: float = 0.0  # read units per second: the rollup's consistent reads

    @property
    def total(self) -> float:
        return self.journal + self.rollup_merchants + self.rollup_registries + self.rollup_state


def counter_cost(
    rate: float,
    merchants: int,
    processes: int,
    *,
    shards: int = 4,
    flush_seconds: float = 1.0,
    rollup_seconds: float = 8.0,
    entry_bytes: int = ENTRY_BYTES_TYPICAL,
) -> CounterCost:
    """Write units per second by part (``flush_seconds`` 0: a flush per count event)."""
    events = rate * COUNT_EVENTS_PER_PAYMENT
    per_process = events / max(processes, 1)
    flushes = 1 / flush_seconds if flush_seconds > 0 else per_process
    per_flush = per_process / flushes
    seen = distinct(per_flush, merchants)
    touched = distinct(seen, shards)  # rollup shards with at least one entry
    items = touched * math.ceil(seen / touched * entry_bytes / ENTRY_BYTES) if touched else 0.0
    journal = processes * items * flushes
    per_round = events * rollup_seconds
    # (writer, shard) pairs with new items in a round: one registry update each.
    writer_shards = processes * distinct(distinct(per_process * rollup_seconds, merchants), shards)
    return CounterCost(
        journal=journal,
        rollup_merchants=(distinct(per_round, merchants) + shards) / rollup_seconds,
        rollup_registries=writer_shards / rollup_seconds,
        rollup_state=2 * shards / rollup_seconds,
        # Each journal item read twice (probed, then applied), the probe's first miss per
        # writer and shard, the registries and the state of each shard per round.
        reads=2 * journal + (processes * shards + 2 * shards) / rollup_seconds,
    )


def counter_wru_per_payment(rate: float, merchants: int, processes: int, **options: Any) -> float:
    """Write units per payment (``options``: ``counter_cost``'s keywords)."""
    if rate <= 0:
        return 0.0
    return counter_cost(rate, merchants, processes, **options).total / rate
