"""Outcome events: published at least once per final state (never lost, maybe twice).

A worker's decision is announced before its SQS message is deleted, so that message is the
reminder: a publish that fails puts the payment in the outbox index, and when even that fails
the message stays and comes back (a duplicate delivery announces the stored decision again).
A cancel has no message: its transition enters the outbox, and the mark is taken off once the
event is out; the reconciler publishes whatever stays in the outbox.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime

import structlog

from paysys.core.domain import PaymentStatus
from paysys.core.outcomes import PaymentOutcome
from paysys.core.ports import EventPublisher, PaymentRepository
from paysys.errors import BackendUnavailable

log = structlog.get_logger(__name__)


class Announcer:
    def __init__(
        self,
        payments: PaymentRepository,
        outcomes: EventPublisher | None,
        clock: Callable[[], datetime],
    ) -> None:
        self._payments, self._outcomes, self._clock = payments, outcomes, clock
        self._background: set[asyncio.Future[bool]] = set()

    async def announce(
        self, outcome: PaymentOutcome, correlation_id: str, *, in_outbox: bool = True
    ) -> bool:
        """Publish the outcome event; True once it is out.

        ``in_outbox``: the payment carries an outbox mark, taken off once the event is
        published; a failure leaves it for the reconciler. Otherwise the caller's SQS message
        is the reminder: a failed publish puts the payment in the outbox instead, and when
        even that fails ``BackendUnavailable`` is raised, so the message is not deleted."""
        if self._outcomes is None:
            return False
        try:
            await self._outcomes.publish(outcome, correlation_id)
        except BackendUnavailable as exc:
            log.warning("outcome.publish_deferred", payment_id=outcome.payment_id, error=str(exc))
            if not in_outbox:
                await self._payments.mark_outbox(outcome.payment_id, self._clock())
            return False
        if in_outbox:
            try:
                await self._payments.clear_outbox(outcome.payment_id)
            except BackendUnavailable as exc:  # published: the reconciler may send it twice
                log.warning("outcome.clear_deferred", payment_id=outcome.payment_id, error=str(exc))
                return False
        return True

    async def again(self, payment_id: str, correlation_id: str) -> None:
        """A duplicate delivery: the receive that decided the payment may have ended before
        its outcome was out, so a worker's decision is published again. A cancel's outcome
        has its outbox mark, and is left to that."""
        if self._outcomes is None:
            return
        payment = await self._payments.get(payment_id)
        if payment.status in (PaymentStatus.APPROVED, PaymentStatus.DECLINED):
            log.info("outcome.announced_again", status=payment.status.value)
            await self.announce(PaymentOutcome.of(payment), correlation_id, in_outbox=False)

    def in_background(self, outcome: PaymentOutcome, correlation_id: str) -> None:
        """Announce an outcome whose payment is in the outbox, without waiting for it."""
        task = asyncio.ensure_future(self.announce(outcome, correlation_id))
        self._background.add(task)
        task.add_done_callback(self._background_done)

    def _background_done(self, task: asyncio.Future[bool]) -> None:
        self._background.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            # The outbox keeps the outcome: the reconciler publishes it later.
            log.warning("outcome.publish_deferred", error=repr(exc))

    async def settle(self) -> None:
        """Wait for the outcome events sent in the background."""
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)
