"""The writes per second that land on the hottest partition key value of the table and of
each index at a rate, against DynamoDB's per-partition limit.

The spread is not assumed: it is measured by running a sample of payments (all from ONE
merchant, the worst case) through the same key functions the adapter uses
(``paysys.core.partition_keys``), so this table cannot drift from the code.
"""

from __future__ import annotations

import random
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from paysys.config import Settings
from paysys.core import partition_keys

WRITE_LIMIT = 1000  # write units per second per partition (and so per partition key value)
READ_LIMIT = 3000
SAMPLE = 100_000


@dataclass(frozen=True, slots=True)
class Row:
    what: str
    key: str
    writes_per_payment: float
    hottest_share: float  # the hottest key value's share of that key's writes

    def hottest_per_second(self, rate: float) -> float:
        if self.hottest_share == 0:  # one key value per payment: its writes, at most
            return self.writes_per_payment
        return rate * self.writes_per_payment * self.hottest_share


def sample_ids(count: int = SAMPLE, seed: int = 7) -> list[str]:
    rng = random.Random(seed)  # noqa: S311 - a reproducible sample, not a secret
    return [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(count)]


def hottest_share(ids: list[str], key: Callable[[str], str]) -> float:
    counts = Counter(key(i) for i in ids)
    return max(counts.values()) / len(ids)


def rows(settings: Settings, ids: list[str] | None = None) -> list[Row]:
    ids = ids or sample_ids()
    now = datetime.now(UTC)
    merchant = "one-merchant"
    return [
        # every id distinct: create, then the worker's decision
        Row("table (payments)", "id", 2.0, 0.0),
        Row(
            "index pending-due (sparse)",
            "pending_shard",
            2.0,  # enter at create, leave at approve
            hottest_share(ids, lambda i: partition_keys.pending_shard(i, settings.pending_shards)),
        ),
        Row(
            "index outbox-due (sparse)",
            "outbox_shard",
            0.0,  # a cancel's outcome only, or one whose publish failed: not per payment
            hottest_share(ids, lambda i: partition_keys.outbox_shard(i, settings.pending_shards)),
        ),
        Row(
            "index merchant-created (keys only)",
            "list_pk",
            1.0,  # status changes do not touch it
            hottest_share(
                ids, lambda i: partition_keys.list_pk_of(merchant, now, i, settings.list_shards)
            ),
        ),
        # the rollup writes one counter item per merchant and round: never hot
        Row("counter items (table)", "id #count#<merchant>", 0.0, 0.0),
    ]
