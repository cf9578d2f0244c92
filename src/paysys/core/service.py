"""Use cases: create and read payments, approve one from its event, republish stragglers."""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog

from paysys.core.domain import (
    NewPayment,
    Payment,
    PaymentCreated,
    fingerprint,
    new_payment_id,
    utcnow,
)
from paysys.core.ports import ClaimState, EventPublisher, IdempotencyStore, PaymentRepository
from paysys.errors import BackendUnavailable

log = structlog.get_logger(__name__)


class Approval(enum.StrEnum):
    APPROVED = "approved"
    DUPLICATE = "duplicate"


@dataclass(frozen=True, slots=True)
class Accepted:
    """What ``POST /payments`` answers: the payment as created, and whether it is a replay."""

    body: dict[str, Any]
    replayed: bool = False

    @property
    def payment_id(self) -> str:
        return str(self.body["id"])


@dataclass(frozen=True, slots=True)
class PaymentService:
    payments: PaymentRepository
    events: EventPublisher
    idempotency: IdempotencyStore
    clock: Callable[[], datetime] = utcnow

    async def create(
        self,
        new: NewPayment,
        correlation_id: str,
        idempotency_key: str | None = None,
        traceparent: str | None = None,
    ) -> Accepted:
        """Store the payment ``Pending`` (the commit point), then publish ``PaymentCreated``.

        A failed store raises ``BackendUnavailable`` (503, nothing kept). A failed publish
        after the store does not: the payment is accepted and the reconciler republishes it.
        With an idempotency key, a retry returns the first answer instead of a new payment."""
        if idempotency_key is None:
            payment = Payment.create(new, self.clock(), correlation_id=correlation_id)
            return Accepted(await self._store_and_publish(payment, False, traceparent))
        claim = await self.idempotency.claim(
            idempotency_key, fingerprint(new), new_payment_id(), self.clock()
        )
        if claim.response is not None:  # ClaimState.DONE
            structlog.contextvars.bind_contextvars(payment_id=claim.payment_id, replayed=True)
            return Accepted(claim.response, replayed=True)
        payment = Payment.create(
            new, self.clock(), correlation_id=correlation_id, payment_id=claim.payment_id
        )
        try:
            resumed = claim.state is ClaimState.RESUMED
            body = await self._store_and_publish(payment, resumed, traceparent)
        except BackendUnavailable:
            await self.idempotency.release(idempotency_key)
            raise
        await self.idempotency.complete(idempotency_key, body, self.clock())
        return Accepted(body)

    async def _store_and_publish(
        self, payment: Payment, resumed: bool, traceparent: str | None
    ) -> dict[str, Any]:
        structlog.contextvars.bind_contextvars(payment_id=payment.id)
        if not await self.payments.add(payment):
            if not resumed:  # a fresh uuid4 collided: impossible in practice, never overwrite
                raise BackendUnavailable(f"payment id {payment.id} already exists")
            payment = await self.payments.get(payment.id)  # stored by the request we resume
        try:
            await self.events.publish(
                PaymentCreated.of(payment), payment.correlation_id, traceparent
            )
        except BackendUnavailable as exc:
            log.warning("payment.publish_deferred", error=str(exc))
        return payment.to_json()

    async def get(self, payment_id: str) -> Payment:
        return await self.payments.get(payment_id)

    async def approve(self, event: PaymentCreated) -> Approval:
        """Idempotent: a second delivery of the same event is a ``DUPLICATE``."""
        if await self.payments.approve(event.payment_id, self.clock()):
            return Approval.APPROVED
        return Approval.DUPLICATE

    async def republish_stale(self, older_than: timedelta, limit: int) -> int:
        """Publish the event again for payments still ``Pending`` after ``older_than``
        (their first publish failed, or their message was lost). Approval is idempotent,
        so a payment whose message is merely slow only costs a duplicate delivery."""
        stale = await self.payments.pending_before(self.clock() - older_than, limit)
        for payment in stale:
            await self.events.publish(PaymentCreated.of(payment), payment.correlation_id)
            log.info(
                "payment.republished",
                payment_id=payment.id,
                correlation_id=payment.correlation_id,
                pending_since=payment.created_at.isoformat(),
            )
        return len(stale)
