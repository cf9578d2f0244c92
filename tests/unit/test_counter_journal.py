"""The counts journal's compact entries and the counter cost model (pure)."""

from __future__ import annotations

from paysys.adapters import counter_journal as cj
from paysys.core.domain import PaymentStatus
from paysys.ops.capacity.counters import counter_cost, counter_wru_per_payment, distinct

P, A = PaymentStatus.PENDING, PaymentStatus.APPROVED


def test_entries_round_trip_and_sum_per_merchant() -> None:
    deltas = {
        "acme": cj.Delta.of({P: 1}, "2026-03"),
        "b-2": cj.Delta.of({P: -1, A: 1}),
        "idle": cj.Delta.zero(),  # nothing to say: left out
    }
    [body] = cj.pack(deltas)
    assert body == "acme:1,,,,2026-03;b-2:-1,1,,"
    back = cj.decode(body)
    assert set(back) == {"acme", "b-2"}
    assert back["acme"].by_status()[P] == 1
    assert back["acme"].first_month == "2026-03"
    summed = cj.total([body, "acme:1,,,,2025-12;b-2:,,1,"])
    assert summed["acme"].n == [2, 0, 0, 0]
    assert summed["acme"].first_month == "2025-12"  # the minimum
    assert summed["b-2"].n == [-1, 1, 1, 0]


def test_bodies_stay_under_the_item_budget() -> None:
    merchant = "m" * 62
    deltas = {f"{merchant}{i}": cj.Delta.of({P: 123, A: 45}, "2026-03") for i in range(100)}
    bodies = cj.pack(deltas)
    assert len(bodies) > 1
    assert all(len(b.encode()) <= cj.ENTRY_BYTES for b in bodies)
    assert cj.total(bodies).keys() == deltas.keys()


def test_the_registry_key_never_meets_the_reconcilers_shards() -> None:
    assert cj.registry_hash(3) == "c#3"
    assert not cj.registry_hash(3).startswith("p#")


def test_counters_cost_at_most_0_2_write_units_per_payment_at_scale() -> None:
    """10,000 payments/s, 10,000 active merchants, 150 processes, the default settings."""
    per_payment = counter_wru_per_payment(10_000, 10_000, 150)
    assert per_payment <= 0.2
    cost = counter_cost(10_000, 10_000, 150)
    assert round(cost.journal) == 600  # 150 processes x 4 shards, one item each, per second
    assert 1200 < cost.rollup_merchants < 1260  # every merchant once per 8 s round
    # Per-process coalescing (the old layout) was ~1 per count event: 2 per payment.
    assert per_payment < 2 / 10


def test_distinct_is_the_uniform_occupancy_expectation() -> None:
    assert distinct(0, 100) == 0.0
    assert 99.9 < distinct(10_000, 100) <= 100
    assert abs(distinct(1, 10_000) - 1) < 1e-3
