"""``paysys capacity --rate R``: for R payments/s, the writes and reads per second that land on
the hottest partition key value of the table, of each index and of the counter items, and the
SNS/SQS calls per second, against DynamoDB's per-partition limits; and the AWS requests of a
payment by kind (``per_million``, also the table of docs/design/costs.md).

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
SNS_BATCH = 10  # PublishBatch entries


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
        # every id distinct: create, transition, outbox cleared after the outcome's publish
        Row("table (payments)", "id", 3.0, 0.0),
        Row(
            "index pending-due (sparse)",
            "pending_shard",
            2.0,  # enter at create, leave at approve
            hottest_share(ids, lambda i: partition_keys.pending_shard(i, settings.pending_shards)),
        ),
        Row(
            "index outbox-due (sparse)",
            "outbox_shard",
            2.0,  # enter at the transition, leave once its outcome event is published
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
        Row(
            "counter items (table)",
            "id #count#<merchant>#<n>",
            # ADD at create and approve; coalesced: per process and flush, not per payment
            0.0 if settings.counter_flush_seconds > 0 else 2.0,
            hottest_share(
                ids, lambda i: partition_keys.counter_id_of(merchant, i, settings.counter_shards)
            ),
        ),
    ]


def coalesced_counter_writes(settings: Settings, processes: int) -> float:
    """Writes/s on the hottest counter item when ``processes`` API and worker processes each
    write one ADD per merchant and flush, rotating over the shards."""
    flushes = processes / settings.counter_flush_seconds
    return flushes / settings.counter_shards


def render(settings: Settings, rate: float) -> str:
    lines = [
        f"paysys capacity at {rate:,.0f} payments/s (all from one merchant: the worst case), "
        f"sample of {SAMPLE:,} payment ids through paysys.core.partition_keys",
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
    if settings.counter_flush_seconds > 0:
        lines.append(
            f"counter items, coalesced (PAYSYS_COUNTER_FLUSH_SECONDS="
            f"{settings.counter_flush_seconds:g}): one ADD per process, merchant and flush, "
            f"rotating over {settings.counter_shards} shards: 200 processes -> "
            f"{coalesced_counter_writes(settings, 200):,.1f} writes/s per counter item"
        )
    stats_reads = settings.counter_shards / max(settings.stats_cache_seconds, 0.001)
    lines += [
        "",
        f"GET /stats: {settings.counter_shards} counter items per uncached call "
        f"(at most {stats_reads:,.0f} item reads/s per API pod and merchant; limit {READ_LIMIT}"
        " per key value, each counter item is its own key value)",
        f"GET /payments?limit=20: about {20 + 2 * settings.list_shards} index keys + 20 items",
        "",
        "AWS requests by kind (at best: full batches; at most: batches of one, Idempotency-Keys):",
    ]
    for r in per_million(settings):
        lines.append(
            f"  {r.kind:9} {rate * r.low:>9,.0f} to {rate * r.high:>9,.0f}/s; per million "
            f"payments {r.low * 1e6:>9,.0f} to {r.high * 1e6:>9,.0f}  {r.calls}"
        )
    return "\n".join(lines) + "\n"


@dataclass(frozen=True, slots=True)
class Requests:
    """One kind of AWS request per payment: ``low`` at best (full batches), ``high`` at most
    (batches of one, as in a quiet system; every create with an Idempotency-Key)."""

    kind: str
    calls: str
    low: float
    high: float
    note: str


def per_million(settings: Settings) -> list[Requests]:
    """The AWS requests of one payment's life (create, publish, deliver, approve), by kind."""
    writes = sum(row.writes_per_payment for row in rows(settings, sample_ids(1_000)))
    batch = settings.worker_batch_size
    return [
        Requests(
            "writes",
            "DynamoDB write request units (items under 1 KB)",
            writes,
            writes + 2,
            "item and index writes (counter writes are coalesced per process and second, "
            "+2 with PAYSYS_COUNTER_FLUSH_SECONDS=0); at most: every request with an "
            "Idempotency-Key (+2: claim, complete)",
        ),
        Requests(
            "reads",
            "DynamoDB read request units",
            0,
            0,
            "none on the way; a client's GET of a payment: 1, "
            f"an uncached /stats: 1 (an open API's: 1 + {settings.counter_shards})",
        ),
        Requests(
            "publishes",
            f"SNS PublishBatch (up to {SNS_BATCH} events)",
            2 / SNS_BATCH,
            2,
            "two events per payment (PaymentCreated, its outcome); at most: batches of one",
        ),
        Requests(
            "receives",
            f"SQS ReceiveMessage (up to {batch} messages)",
            1 / batch,
            1,
            "at most: batches of one; idle long polls come on top, by time, not by payment",
        ),
        Requests(
            "deletes",
            f"SQS DeleteMessageBatch (up to {batch})",
            1 / batch,
            1,
            "after the approval is stored; at most: batches of one",
        ),
    ]


def per_million_markdown(settings: Settings) -> str:
    """The table of AWS requests per million payments in docs/design/costs.md."""
    lines = [
        "| Kind | AWS request | Per million payments | At most | Notes |",
        "|---|---|---|---|---|",
    ]
    lines.extend(
        f"| {r.kind} | {r.calls} | {r.low * 1e6:,.0f} | {r.high * 1e6:,.0f} | {r.note} |"
        for r in per_million(settings)
    )
    return "\n".join(lines) + "\n"
