"""Use cases: create and read payments, approve one from its event."""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import structlog

from paysys.domain import NewPayment, Payment, PaymentCreated, utcnow
from paysys.ports import EventPublisher, PaymentRepository

log = structlog.get_logger(__name__)


class Approval(enum.StrEnum):
    APPROVED = "approved"
    DUPLICATE = "duplicate"


@dataclass(frozen=True, slots=True)
class PaymentService:
    payments: PaymentRepository
    events: EventPublisher
    clock: Callable[[], datetime] = utcnow

    async def create(self, new: NewPayment, correlation_id: str) -> Payment:
        """Store the payment ``Pending``, then publish ``PaymentCreated``.

        If the publish fails the payment stays stored and ``BackendUnavailable`` propagates
        (the client gets a 503 and the payment id in the log)."""
        payment = Payment.create(new, self.clock())
        await self.payments.add(payment)
        structlog.contextvars.bind_contextvars(payment_id=payment.id)
        await self.events.publish(PaymentCreated.of(payment), correlation_id)
        return payment

    async def get(self, payment_id: str) -> Payment:
        return await self.payments.get(payment_id)

    async def approve(self, event: PaymentCreated) -> Approval:
        """Idempotent: a second delivery of the same event is a ``DUPLICATE``."""
        if await self.payments.approve(event.payment_id, self.clock()):
            return Approval.APPROVED
        return Approval.DUPLICATE
