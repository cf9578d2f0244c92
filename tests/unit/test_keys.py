"""No hot key: the same key functions the adapter uses, on 100,000 payments of ONE merchant."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

import pytest

from paysys.config import Settings
from paysys.core import partition_keys
from paysys.ops.capacity.keys import WRITE_LIMIT, rows, sample_ids

IDS = sample_ids(100_000)
NOW = datetime(2026, 11, 29, tzinfo=UTC)


def hottest_share(values: list[str]) -> float:
    return max(Counter(values).values()) / len(values)


@pytest.mark.parametrize(
    ("index", "shards", "key"),
    [
        ("pending-due", 32, partition_keys.pending_shard),
        ("merchant-created", 16, lambda i, n: partition_keys.list_pk_of("acme", NOW, i, n)),
        ("counter items", 32, lambda i, n: partition_keys.counter_id_of("acme", i, n)),
    ],
)
def test_the_hottest_key_value_gets_at_most_two_shares(index: str, shards: int, key) -> None:
    share = hottest_share([key(i, shards) for i in IDS])
    assert share <= 2 / shards, (index, share)
    assert len({key(i, shards) for i in IDS}) == shards  # every shard is used


def test_capacity_at_ten_thousand_per_second_stays_under_the_partition_limit() -> None:
    for row in rows(Settings(), IDS):
        assert row.hottest_per_second(10_000) <= WRITE_LIMIT, row


def test_a_shard_is_stable_across_processes_and_versions() -> None:
    """Pinned values: blake2b, not hash() (salted per process). A change here would strand
    stored payments in shards nobody reads."""
    assert partition_keys.shard_of("8c8cabde-1d2e-4f00-9a6b-0123456789ab", 32) == 12
    assert [partition_keys.shard_of(str(n), 1000) for n in range(3)] == [789, 910, 100]


def test_months_walk_back_across_a_year() -> None:
    assert partition_keys.previous_month("2026-01") == "2025-12"
    assert partition_keys.previous_month("2026-11") == "2026-10"
    assert partition_keys.month_of(NOW) == "2026-11"
