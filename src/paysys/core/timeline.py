"""The status page's charts: payments decided per second by final state, and the age at
decision (p50, p99), over the last 15 minutes in 10 s buckets, kept in this process's memory.

Two sources, both constant in table size:

- Rates come from the merchant's counter items (what ``/stats`` reads, O(shards)): the
  difference between two readings is what was decided between them, by whichever worker or
  API pod. Every pod sees the same counters, so the rates are the system's. A pod only reads
  while someone looks at it (at most once per ``SAMPLE_SECONDS``), so buckets before that are
  empty, and pods that answer few of the page's polls see coarser steps.
- Ages come from a sample of the payments this pod accepted (at most ``SAMPLE_PER_BUCKET``
  per bucket and ``MAX_PENDING`` waiting): each is read back by id (one ``GetItem``) until
  it is final; its age is ``updated_at - created_at`` as stored (canceled ones are left out:
  their age is the client's timing). That is this pod's sample,
  a fair one where the load balancer spreads creates evenly.
"""

from __future__ import annotations

import asyncio
import math
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from paysys.core.cache import SingleFlight
from paysys.core.domain import PaymentStatus, utcnow
from paysys.core.ports import PaymentRepository
from paysys.errors import PaymentNotFound

BUCKET_SECONDS = 10
WINDOW_BUCKETS = 90  # 15 minutes
SAMPLE_SECONDS = 2.0  # a pod reads counters and probes at most this often per merchant
MAX_GAP_SECONDS = 60.0  # two readings further apart than this are not averaged over
SAMPLE_PER_BUCKET = 20
MAX_PENDING = 100
PROBES_PER_SAMPLE = 20
MAX_MERCHANTS = 256
FINAL = (PaymentStatus.APPROVED, PaymentStatus.DECLINED, PaymentStatus.CANCELED)


@dataclass
class _Bucket:
    decided: dict[PaymentStatus, int] = field(default_factory=dict)
    seconds: float = 0.0  # covered by pairs of counter readings
    ages: list[float] = field(default_factory=list)
    sampled: int = 0  # payments taken for the age sample in this bucket


@dataclass
class Timeline:
    """One merchant's buckets, keyed by their start (seconds since the epoch)."""

    buckets: dict[int, _Bucket] = field(default_factory=dict)
    last: tuple[float, Mapping[PaymentStatus, int]] | None = None
    pending: dict[str, float] = field(default_factory=dict)  # payment id -> when offered

    def bucket(self, at: float) -> _Bucket:
        start = int(at // BUCKET_SECONDS) * BUCKET_SECONDS
        if start not in self.buckets:
            self.buckets[start] = _Bucket()
            for old in [s for s in self.buckets if s <= start - WINDOW_BUCKETS * BUCKET_SECONDS]:
                del self.buckets[old]
        return self.buckets[start]

    def counts(self, at: float, by_status: Mapping[PaymentStatus, int]) -> None:
        """A reading of the counters: what was decided since the last one goes to ``at``'s
        bucket, with the seconds between them."""
        previous, self.last = self.last, (at, dict(by_status))
        if previous is None or not 0 < at - previous[0] <= MAX_GAP_SECONDS:
            return
        bucket = self.bucket(at)
        bucket.seconds += at - previous[0]
        for status in FINAL:
            delta = max(0, by_status.get(status, 0) - previous[1].get(status, 0))
            bucket.decided[status] = bucket.decided.get(status, 0) + delta

    def offer(self, payment_id: str, at: float) -> None:
        """A payment this pod accepted: taken for the age sample while there is room."""
        bucket = self.bucket(at)
        if bucket.sampled < SAMPLE_PER_BUCKET and len(self.pending) < MAX_PENDING:
            bucket.sampled += 1
            self.pending[payment_id] = at

    def age(self, decided_at: float, seconds: float) -> None:
        self.bucket(decided_at).ages.append(seconds)

    def series(self, now: float) -> dict[str, Any]:
        last = int(now // BUCKET_SECONDS) * BUCKET_SECONDS
        starts = [last - BUCKET_SECONDS * i for i in reversed(range(WINDOW_BUCKETS))]
        buckets = [self.buckets.get(start) for start in starts]
        return {
            "bucket_seconds": BUCKET_SECONDS,
            "time": starts,
            "per_second": {
                status.value: [
                    round(b.decided.get(status, 0) / b.seconds, 3) if b and b.seconds else None
                    for b in buckets
                ]
                for status in FINAL
            },
            "age_seconds": {
                "p50": [_percentile(b.ages, 50) if b else None for b in buckets],
                "p99": [_percentile(b.ages, 99) if b else None for b in buckets],
                "samples": [len(b.ages) if b else 0 for b in buckets],
            },
        }


def _percentile(values: list[float], percent: int) -> float | None:
    """Nearest rank: with few samples the p99 is the largest."""
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[max(0, math.ceil(percent / 100 * len(ordered)) - 1)], 3)


@dataclass
class RecentDecisions:
    """Every merchant's ``Timeline`` in this process (the least recently used dropped past
    ``MAX_MERCHANTS``); ``series`` reads the counters and probes the sample, at most once per
    ``SAMPLE_SECONDS`` per merchant however many pages poll."""

    now: Callable[[], datetime] = utcnow
    _timelines: OrderedDict[str, Timeline] = field(default_factory=OrderedDict)
    _sampling: SingleFlight[None] = field(init=False)

    def __post_init__(self) -> None:
        self._sampling = SingleFlight(SAMPLE_SECONDS, lambda: self.now().timestamp())

    def timeline(self, merchant_id: str) -> Timeline:
        found = self._timelines.pop(merchant_id, None) or Timeline()
        self._timelines[merchant_id] = found
        while len(self._timelines) > MAX_MERCHANTS:
            self._timelines.popitem(last=False)
        return found

    def accepted(self, merchant_id: str, payment_id: str) -> None:
        self.timeline(merchant_id).offer(payment_id, self.now().timestamp())

    async def series(self, merchant_id: str, payments: PaymentRepository) -> dict[str, Any]:
        await self._sampling.get(merchant_id, lambda: self._sample(merchant_id, payments))
        timeline = self.timeline(merchant_id)
        return {"merchant_id": merchant_id, **timeline.series(self.now().timestamp())}

    async def _sample(self, merchant_id: str, payments: PaymentRepository) -> None:
        timeline = self.timeline(merchant_id)
        counts = await payments.counts(merchant_id)
        now = self.now().timestamp()
        timeline.counts(now, counts.by_status)
        for payment_id, offered in list(timeline.pending.items()):
            if now - offered > WINDOW_BUCKETS * BUCKET_SECONDS:
                del timeline.pending[payment_id]  # undecided for the whole window
        probes = list(timeline.pending)[:PROBES_PER_SAMPLE]
        read = await asyncio.gather(*(payments.get(p) for p in probes), return_exceptions=True)
        for payment_id, payment in zip(probes, read, strict=True):
            if isinstance(payment, PaymentNotFound):
                timeline.pending.pop(payment_id, None)
            elif not isinstance(payment, BaseException) and payment.status.final:
                timeline.pending.pop(payment_id, None)
                if payment.status is PaymentStatus.CANCELED:
                    continue  # the client's timing, not a decision's
                age = (payment.updated_at - payment.created_at).total_seconds()
                timeline.age(payment.updated_at.timestamp(), age)
