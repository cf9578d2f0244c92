"""``paysys capacity --rate R``: for R payments/s, the writes and reads per second that land on
the hottest partition key value of the table, of each index and of the counter items, and the
SNS/SQS calls per second, against DynamoDB's per-partition limits.

The spread is not assumed: it is measured by running a sample of payments (all from ONE
merchant, the worst case) through the same key functions the adapter uses
(``paysys.core.keys``), so this table cannot drift from the code.
"""

from __future__ import annotations

import random
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from paysys.config import Settings
from paysys.core import keys

WRITE_LIMIT = 1000  # write units per second per partition (and so per partition key value)
READ_LIMIT = 3000
SAMPLE = 100_000
SNS_BATCH = SQS_BATCH = 10


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
        Row("table (payments)", "id", 2.0, 0.0),  # every id distinct: 2 writes per value
        Row(
            "index pending-due (sparse)",
            "pending_shard",
            2.0,  # enter at create, leave at approve
            hottest_share(ids, lambda i: keys.pending_shard(i, settings.pending_shards)),
        ),
        Row(
            "index merchant-created (keys only)",
            "list_pk",
            1.0,  # status changes do not touch it
            hottest_share(ids, lambda i: keys.list_pk_of(merchant, now, i, settings.list_shards)),
        ),
        Row(
            "counter items (table)",
            "id #count#<merchant>#<n>",
            2.0,  # ADD at create and approve
            hottest_share(ids, lambda i: keys.counter_id_of(merchant, i, settings.counter_shards)),
        ),
    ]


def render(settings: Settings, rate: float) -> str:
    lines = [
        f"paysys capacity at {rate:,.0f} payments/s (all from one merchant: the worst case), "
        f"sample of {SAMPLE:,} payment ids through paysys.core.keys",
        "",
        f"{'what':38} {'partition key':26} {'writes/payment':>14} {'hottest value/s':>16} "
        f"{'limit':>6}  ok",
    ]
    for row in rows(settings):
        hot = row.hottest_per_second(rate)
        ok = "yes" if hot <= WRITE_LIMIT else "NO"
        lines.append(
            f"{row.what:38} {row.key:26} {row.writes_per_payment:>14.1f} {hot:>16,.1f} "
            f"{WRITE_LIMIT:>6}  {ok}"
        )
    stats_reads = settings.counter_shards / max(settings.stats_cache_seconds, 0.001)
    lines += [
        "",
        f"GET /stats: {settings.counter_shards} counter items per uncached call "
        f"(at most {stats_reads:,.0f} item reads/s per API pod and merchant; limit {READ_LIMIT}"
        " per key value, each counter item is its own key value)",
        f"GET /payments?limit=20: about {20 + 2 * settings.list_shards} index keys + 20 items",
        "",
        f"SNS PublishBatch: {rate / SNS_BATCH:,.0f} calls/s with full batches, up to {rate:,.0f}",
        f"SQS ReceiveMessage: {rate / SQS_BATCH:,.0f} calls/s with full batches (more when "
        "idle: long polls); DeleteMessageBatch the same",
        f"DynamoDB writes/s in all (create + approve + counters, index writes included): "
        f"{rate * (1 + 1 + 2 + 2 + 1):,.0f}",
    ]
    return "\n".join(lines) + "\n"
