"""The counter journal's items and their compact text (pure: no I/O).

Every process that makes transitions journals its count deltas per *rollup shard* (merchants
hashed over ``PAYSYS_COUNTER_SHARDS`` of them) and the rollup (``counter_rollup``) folds them
into one counter item per merchant. The items, all in the payments table:

- ``#j#<s>#<writer>#<seq>``: one journal item, ``seq`` = 1, 2, 3... per (writer, shard), its
  entries in ``e`` (``merchant:dp,da,dd,dc[,first_month];...``, at most ``ENTRY_BYTES``);
- ``#jw#<s>#<writer>``: the writer's registry for the shard, in the pending-due index under
  ``pending_shard = c#<s>`` (the reconciler reads only ``p#<n>``), ``due_at = <writer>``:
  ``upto`` (the last seq applied or being applied), ``from``/``round`` (the bounds of the round
  that took it last), ``closed`` (the last seq of a writer that stopped cleanly);
- ``#js#<s>``: the shard's rollup state, ``round`` (last round whose bounds are recorded) and
  ``done`` (last round fully applied);
- ``#count#<merchant>``: the merchant's counts (``n_<status>``, ``first_month``, ``rnd``);
- ``#countp#<s>``: the platform totals of the shard's merchants (summed over the shards).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from paysys.core.domain import PaymentStatus
from paysys.core.ports import Counts

JOURNAL_PREFIX = "#j#"
REGISTRY_PREFIX = "#jw#"
STATE_PREFIX = "#js#"
MERCHANT_PREFIX = "#count#"
PLATFORM_PREFIX = "#countp#"
REGISTRY_HASH_PREFIX = "c#"  # the registries' ``pending_shard`` value: never a ``p#<n>``
ENTRY_BYTES = 900  # a journal item's entries, so that the item stays under 1 KB
STATUSES = (
    PaymentStatus.PENDING,
    PaymentStatus.APPROVED,
    PaymentStatus.DECLINED,
    PaymentStatus.CANCELED,
)


def journal_id(shard: int, writer: str, seq: int) -> str:
    return f"{JOURNAL_PREFIX}{shard}#{writer}#{seq}"


def registry_id(shard: int, writer: str) -> str:
    return f"{REGISTRY_PREFIX}{shard}#{writer}"


def registry_hash(shard: int) -> str:
    return f"{REGISTRY_HASH_PREFIX}{shard}"


def state_id(shard: int) -> str:
    return f"{STATE_PREFIX}{shard}"


def merchant_counter_id(merchant_id: str) -> str:
    return f"{MERCHANT_PREFIX}{merchant_id}"


def platform_counter_id(shard: int) -> str:
    return f"{PLATFORM_PREFIX}{shard}"


@dataclass(slots=True)
class Delta:
    """One merchant's count changes: per status, and the earliest month of a payment counted
    for the first time (None: none)."""

    n: list[int]
    first_month: str | None = None

    @classmethod
    def zero(cls) -> Delta:
        return cls([0] * len(STATUSES))

    @classmethod
    def of(cls, deltas: Mapping[PaymentStatus, int], first_month: str | None = None) -> Delta:
        return cls([deltas.get(s, 0) for s in STATUSES], first_month)

    def add(self, other: Delta) -> None:
        self.n = [a + b for a, b in zip(self.n, other.n, strict=True)]
        if other.first_month is not None:
            self.first_month = min(self.first_month or other.first_month, other.first_month)

    @property
    def empty(self) -> bool:
        return self.first_month is None and not any(self.n)

    def by_status(self) -> dict[PaymentStatus, int]:
        return dict(zip(STATUSES, self.n, strict=True))


def encode_entry(merchant_id: str, delta: Delta) -> str:
    parts = [str(n) if n else "" for n in delta.n]
    if delta.first_month is not None:
        parts.append(delta.first_month)
    return f"{merchant_id}:{','.join(parts)}"


def decode(text: str) -> dict[str, Delta]:
    """A journal item's entries, per merchant (a merchant appears once per item)."""
    found: dict[str, Delta] = {}
    for entry in filter(None, text.split(";")):
        merchant, _, rest = entry.partition(":")
        parts = rest.split(",")
        delta = Delta([int(p or 0) for p in parts[: len(STATUSES)]])
        if len(parts) > len(STATUSES) and parts[len(STATUSES)]:
            delta.first_month = parts[len(STATUSES)]
        found.setdefault(merchant, Delta.zero()).add(delta)
    return found


def pack(deltas: Mapping[str, Delta], limit: int = ENTRY_BYTES) -> list[str]:
    """The entries as journal bodies of at most ``limit`` UTF-8 bytes each (empty deltas
    left out; one entry is far below the limit: a merchant id is at most 63 characters)."""
    bodies: list[str] = []
    current: list[str] = []
    size = 0
    for merchant, delta in sorted(deltas.items()):
        if delta.empty:
            continue
        entry = encode_entry(merchant, delta)
        cost = len(entry.encode()) + (1 if current else 0)
        if current and size + cost > limit:
            bodies.append(";".join(current))
            current, size = [], 0
            cost = len(entry.encode())
        current.append(entry)
        size += cost
    if current:
        bodies.append(";".join(current))
    return bodies


def total(bodies: Iterable[str]) -> dict[str, Delta]:
    """The deltas of several journal items summed per merchant."""
    summed: dict[str, Delta] = {}
    for body in bodies:
        for merchant, delta in decode(body).items():
            summed.setdefault(merchant, Delta.zero()).add(delta)
    return summed


def counts_of(items: list[dict[str, Any]]) -> Counts:
    """The counts of counter items summed (one merchant's item, or the platform's)."""
    by_status = {s: sum(int(i.get(f"n_{s.value}", 0)) for i in items) for s in PaymentStatus}
    months = [str(i["first_month"]) for i in items if "first_month" in i]
    return Counts(by_status, min(months) if months else None)
