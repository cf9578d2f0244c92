"""The reconciler closes the API's dual write (DynamoDB, then SNS).

A payment is stored ``Pending`` before its event is published. If the publish fails, or the
event is lost, the payment would stay ``Pending`` for ever. Each stored payment not yet final
sits in the sparse, sharded pending index with a ``due_at`` (creation + the reconcile window).
Every worker runs a reconciler; each pass it walks the shards in random order and, for each
shard whose lease it wins (so running workers divide the shards among them), pages through the
payments that are due, oldest first:

- each is *claimed* with a conditional write that moves its ``due_at`` forward (backoff: the
  longer it has been pending, the longer until the next look, capped), so however many workers
  run, a payment is republished at most once per window;
- the claimed ones are republished through the batching publisher;
- between passes there is always a pause.
Deciding is idempotent, so an extra event only costs a duplicate delivery.

The same pass, under the same shard lease, drains the sparse *outbox* index: final payments
whose outcome event was not published after their transition (the outcomes topic failed, or
the process died in between). Each is claimed the same way, its outcome published, and the
mark cleared only then, so an outcome is never lost (a subscriber may see it twice).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog

from paysys.core.domain import Payment, PaymentCreated, utcnow
from paysys.core.outcomes import PaymentOutcome
from paysys.core.ports import Due, EventPublisher, LeaseStore, PaymentRepository
from paysys.errors import BackendUnavailable, PaymentNotFound

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class ReconcilerOptions:
    after_seconds: float = 60.0
    interval_seconds: float = 15.0
    batch_size: int = 100
    shards: int = 32
    max_backoff_seconds: float = 3600.0


@dataclass(slots=True)
class ReconcilerStats:
    passes: int = 0
    republished: int = 0
    outcomes_published: int = 0
    failures: int = 0
    oldest_overdue_seconds: float = 0.0  # age of the oldest payment found due in the last pass


class Reconciler:
    def __init__(
        self,
        payments: PaymentRepository,
        leases: LeaseStore,
        events: EventPublisher,
        options: ReconcilerOptions,
        *,
        owner: str,
        clock: Callable[[], datetime] = utcnow,
        outcomes: EventPublisher | None = None,
    ) -> None:
        self._payments, self._leases, self._events = payments, leases, events
        self._outcomes = outcomes
        self._options, self._owner, self._clock = options, owner, clock
        self.stats = ReconcilerStats()

    async def run(self, stop: asyncio.Event) -> None:
        opts = self._options
        log.info("reconciler.started", after_s=opts.after_seconds, interval_s=opts.interval_seconds)
        while not stop.is_set():
            try:
                count = await self.pass_once(stop)
            except BackendUnavailable as exc:
                self.stats.failures += 1
                log.warning("reconciler.failed", error=str(exc))
            except Exception:  # a safety net must never end the worker: the next pass runs
                self.stats.failures += 1
                log.exception("reconciler.crashed")
            else:
                if count:
                    log.info("reconciler.republished", count=count)
            with contextlib.suppress(TimeoutError):  # always a pause between passes
                await asyncio.wait_for(stop.wait(), timeout=opts.interval_seconds)

    async def pass_once(self, stop: asyncio.Event | None = None) -> int:
        """One pass over the shards this worker wins; the number of payments republished."""
        shards = list(range(self._options.shards))
        random.shuffle(shards)
        oldest: datetime | None = None
        total = 0
        for shard in shards:
            if stop is not None and stop.is_set():
                break
            now = self._clock()
            name = f"reconcile#{shard}"
            if not await self._leases.acquire(
                name, self._owner, now, self._options.interval_seconds
            ):
                continue
            count, seen = await self._shard(shard, now)
            self.stats.outcomes_published += await self._outbox(shard, now)
            total += count
            oldest = seen if oldest is None or (seen and seen < oldest) else oldest
        self.stats.passes += 1
        self.stats.republished += total
        now = self._clock()
        self.stats.oldest_overdue_seconds = (now - oldest).total_seconds() if oldest else 0.0
        return total

    async def _shard(self, shard: int, now: datetime) -> tuple[int, datetime | None]:
        """Claim and republish what is due in one shard, a page at a time; a claimed payment
        moves out of the range, so the next query returns the next page."""
        total, oldest = 0, None
        while True:
            due = await self._payments.due(shard, now, self._options.batch_size)
            if due:
                first = min(d.created_at for d in due)
                oldest = first if oldest is None or first < oldest else oldest
            claimed = await asyncio.gather(
                *(self._claimed(self._payments.claim(d, self._next(d, now)), d) for d in due)
            )
            mine = [p for p in claimed if p is not None]
            await asyncio.gather(*(self._republish(p) for p in mine))
            total += len(mine)
            if len(due) < self._options.batch_size or not mine:
                return total, oldest

    async def _outbox(self, shard: int, now: datetime) -> int:
        """Claim and publish the outcome events left in one outbox shard, a page at a time."""
        if self._outcomes is None:
            return 0
        total = 0
        while True:
            due = await self._payments.outbox(shard, now, self._options.batch_size)
            claimed = await asyncio.gather(
                *(self._claimed(self._payments.claim_outbox(d, self._next(d, now)), d) for d in due)
            )
            mine = [p for p in claimed if p is not None]
            published = await asyncio.gather(
                *(self._publish_outcome(self._outcomes, p) for p in mine)
            )
            total += sum(published)
            if len(due) < self._options.batch_size or not mine:
                return total

    async def _claimed(self, claim: Awaitable[Payment | None], due: Due) -> Payment | None:
        """One claim of a page: a failure is that payment's alone (it comes back at its due
        time), never the page's: the claims that succeeded are republished."""
        try:
            return await claim
        except Exception as exc:  # noqa: BLE001 - a malformed item too: one payment, not the pass
            self.stats.failures += 1
            log.warning("reconciler.claim_failed", payment_id=due.payment_id, error=repr(exc))
            return None

    async def _publish_outcome(self, outcomes: EventPublisher, payment: Payment) -> bool:
        try:
            await outcomes.publish(PaymentOutcome.of(payment), payment.correlation_id or payment.id)
            await self._payments.clear_outbox(payment.id)
        except (BackendUnavailable, PaymentNotFound) as exc:  # it comes back when due again
            self.stats.failures += 1
            log.warning("reconciler.outcome_failed", payment_id=payment.id, error=str(exc))
            return False
        log.info("outcome.republished", payment_id=payment.id, status=payment.status.value)
        return True

    def _next(self, due: Due, now: datetime) -> datetime:
        """Backoff: wait as long as the payment has been pending, within [window, cap]."""
        waited = (now - due.created_at).total_seconds()
        opts = self._options
        return now + timedelta(
            seconds=min(max(waited, opts.after_seconds), opts.max_backoff_seconds)
        )

    async def _republish(self, payment: Payment) -> None:
        correlation_id = payment.correlation_id or payment.id
        try:
            await self._events.publish(PaymentCreated.of(payment), correlation_id)
        except BackendUnavailable as exc:  # claimed: it comes back at its next due time
            self.stats.failures += 1
            log.warning("reconciler.publish_failed", payment_id=payment.id, error=str(exc))
            return
        log.info(
            "payment.republished",
            payment_id=payment.id,
            correlation_id=correlation_id,
            pending_since=payment.created_at.isoformat(),
        )
