"""The status page's charts (paysys.core.timeline): rates from counter readings, ages from a
bounded sample read back by id, 15 minutes of 10 s buckets."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from paysys.core.domain import NewPayment, Payment, PaymentStatus
from paysys.core.ports import Counts
from paysys.core.timeline import (
    MAX_PENDING,
    SAMPLE_PER_BUCKET,
    WINDOW_BUCKETS,
    RecentDecisions,
    Timeline,
)
from paysys.errors import PaymentNotFound

APPROVED, DECLINED, CANCELED = (
    PaymentStatus.APPROVED,
    PaymentStatus.DECLINED,
    PaymentStatus.CANCELED,
)
T0 = 1_800_000_000.0  # a bucket start


def test_rates_are_counter_differences_over_the_seconds_between_readings() -> None:
    timeline = Timeline()
    timeline.counts(T0 + 1, {APPROVED: 10, DECLINED: 2})
    timeline.counts(T0 + 5, {APPROVED: 30, DECLINED: 2, CANCELED: 4})
    series = timeline.series(T0 + 5)
    assert series["time"][-1] == T0
    assert len(series["time"]) == WINDOW_BUCKETS
    assert series["per_second"]["Approved"][-1] == 5.0
    assert series["per_second"]["Declined"][-1] == 0.0
    assert series["per_second"]["Canceled"][-1] == 1.0
    assert series["per_second"]["Approved"][:-1] == [None] * (WINDOW_BUCKETS - 1)


def test_readings_too_far_apart_start_afresh() -> None:
    timeline = Timeline()
    timeline.counts(T0, {APPROVED: 0})
    timeline.counts(T0 + 600, {APPROVED: 6000})
    assert timeline.series(T0 + 600)["per_second"]["Approved"][-1] is None


def test_old_buckets_leave_the_window() -> None:
    timeline = Timeline()
    timeline.age(T0, 1.0)
    later = T0 + WINDOW_BUCKETS * 10
    timeline.age(later, 2.0)
    assert T0 not in timeline.buckets
    assert timeline.series(later)["age_seconds"]["p50"][-1] == 2.0


def test_percentiles_by_nearest_rank() -> None:
    timeline = Timeline()
    for age in range(1, 101):
        timeline.age(T0 + 3, float(age))
    ages = timeline.series(T0 + 3)["age_seconds"]
    assert (ages["p50"][-1], ages["p99"][-1], ages["samples"][-1]) == (50.0, 99.0, 100)


def test_the_sample_is_bounded() -> None:
    timeline = Timeline()
    for n in range(SAMPLE_PER_BUCKET + 5):
        timeline.offer(f"p{n}", T0)
    assert len(timeline.pending) == SAMPLE_PER_BUCKET
    for second in range(10, 200, 10):
        for n in range(SAMPLE_PER_BUCKET):
            timeline.offer(f"p{second}-{n}", T0 + second)
    assert len(timeline.pending) == MAX_PENDING


@dataclass
class Repository:
    """Counts and payments, as the timeline reads them."""

    by_status: dict[PaymentStatus, int] = field(default_factory=dict)
    payments: dict[str, Payment] = field(default_factory=dict)
    reads: int = 0

    async def counts(self, merchant_id: str) -> Counts:
        return Counts(dict(self.by_status), None)

    async def get(self, payment_id: str) -> Payment:
        self.reads += 1
        if payment_id not in self.payments:
            raise PaymentNotFound(payment_id)
        return self.payments[payment_id]


async def test_the_sample_is_read_back_until_final() -> None:
    clock = [datetime.fromtimestamp(T0, UTC)]
    payment = Payment.create(NewPayment(Decimal("1.00"), "BRL", ""), clock[0], correlation_id="c")
    decisions = RecentDecisions(now=lambda: clock[0])
    repository: Any = Repository(payments={payment.id: payment})
    decisions.accepted("default", payment.id)
    decisions.accepted("default", "gone")
    series = await decisions.series("default", repository)
    assert series["age_seconds"]["samples"][-1] == 0
    assert list(decisions.timeline("default").pending) == [payment.id]  # "gone" dropped

    decided = payment.created_at + timedelta(seconds=1.5)
    repository.payments[payment.id] = replace(payment, status=APPROVED, updated_at=decided)
    cached = await decisions.series("default", repository)  # within 2 s: no new reads
    assert repository.reads == 2
    assert cached["age_seconds"]["samples"][-1] == 0
    clock[0] += timedelta(seconds=3)
    series = await decisions.series("default", repository)
    assert decisions.timeline("default").pending == {}
    samples = [n for n in series["age_seconds"]["samples"] if n]
    assert samples == [1]
    assert 1.5 in series["age_seconds"]["p50"]
