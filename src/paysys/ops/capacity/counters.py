"""What the counts behind ``/stats`` cost per payment at a rate, over many processes and
merchants (the counter journal and its rollup: ``paysys.adapters.dynamodb_counts``).

Every process appends its coalesced deltas to journal items (one stream per rollup shard,
packed up to ``JOURNAL_ITEM_BYTES``) once per flush; one owner per rollup shard adds a round of
journals to one counter item per merchant once per rollup interval. So the journal costs
bytes (about one write unit per ``JOURNAL_ITEM_BYTES`` of entries), and the rollup one write
per merchant touched per round, however many processes counted it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

JOURNAL_ITEM_BYTES = 900  # entries packed per journal item (items stay within 1 KB)
ENTRY_OVERHEAD_BYTES = 12  # separators and the deltas of one merchant's entry
COUNT_EVENTS_PER_PAYMENT = 2  # created (API), decided (worker): counted where they happen


@dataclass(frozen=True, slots=True)
class CounterLoad:
    rate: float  # payments/s
    merchants: int  # active merchants, payments spread evenly (the costly case)
    processes: int  # API and worker processes that count
    flush_seconds: float  # J: each process writes its journal this often
    rollup_seconds: float  # R: each rollup shard applies a round this often
    shards: int  # S: rollup shards (merchants hashed over them)
    merchant_id_bytes: int = 13


def distinct(draws: float, merchants: int) -> float:
    """Expected distinct merchants among ``draws`` payments spread evenly over ``merchants``."""
    return merchants * -math.expm1(-draws / merchants) if merchants else 0.0


def journal_wru_per_second(load: CounterLoad) -> float:
    events = COUNT_EVENTS_PER_PAYMENT * load.rate / load.processes * load.flush_seconds
    entries = distinct(events, load.merchants)  # one entry per merchant per flush
    per_shard = entries / load.shards
    touched = distinct(entries, load.shards)  # shards this flush writes to
    entry_bytes = load.merchant_id_bytes + ENTRY_OVERHEAD_BYTES
    items = touched * max(1, math.ceil(per_shard * entry_bytes / JOURNAL_ITEM_BYTES))
    return load.processes * items / load.flush_seconds


def rollup_wru_per_second(load: CounterLoad) -> float:
    events = COUNT_EVENTS_PER_PAYMENT * load.rate * load.rollup_seconds
    merchants = distinct(events, load.merchants)  # counter items written per round
    writers = load.processes * distinct(events / load.processes, load.shards)  # cursors moved
    rounds = load.shards * 2  # each shard's round: bounds recorded, then done
    return (merchants + writers + rounds) / load.rollup_seconds


def counter_wru_per_payment(load: CounterLoad) -> float:
    if load.rate <= 0:
        return 0.0
    return (journal_wru_per_second(load) + rollup_wru_per_second(load)) / load.rate


def lag_seconds(load: CounterLoad) -> float:
    """How far behind ``/stats`` can be: a flush, then a whole round (plus the round's work)."""
    return load.flush_seconds + load.rollup_seconds
