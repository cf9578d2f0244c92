"""Outcome events: what other services learn when a payment reaches its final state.

Published to the outcomes topic after each transition (``PaymentApproved``,
``PaymentDeclined``, ``PaymentCanceled``), with message attributes ``event_type``,
``merchant_id`` and ``correlation_id`` (and ``traceparent``, and ``no_webhook_endpoint`` when
no endpoint of the merchant wants it) for subscription filter policies.
The payload is versioned; ``schemas/payment_outcome.v1.json`` is its JSON Schema. A transition
and its event never diverge: the transition marks the payment in the sparse outbox index, and
the mark is cleared only after a successful publish (the reconciler publishes the rest), so
subscribers see each outcome at least once.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from paysys.core.domain import (
    Payment,
    PaymentCreated,
    PaymentStatus,
    check_transition,
    format_time,
)
from paysys.core.money import format_amount

OUTCOME_VERSION = 1
OUTCOME_TYPES = {
    PaymentStatus.APPROVED: "PaymentApproved",
    PaymentStatus.DECLINED: "PaymentDeclined",
    PaymentStatus.CANCELED: "PaymentCanceled",
}
# The attribute of an outcome whose merchant has no webhook endpoint that wants it. The webhook
# queue's subscription drops such outcomes (``{"no_webhook_endpoint": [{"exists": false}]}``),
# so the delivery loops never receive what they would only delete; an outcome without it
# (unknown, or from a publisher older than the filter) still reaches the queue.
NO_WEBHOOK_ENDPOINT = "no_webhook_endpoint"


@dataclass(frozen=True, slots=True)
class PaymentOutcome:
    payment_id: str
    merchant_id: str
    amount: Decimal
    currency: str
    status: PaymentStatus
    decline_reason: str | None
    created_at: datetime
    occurred_at: datetime
    # Whether a webhook endpoint of the merchant wants it; None: not known (routed to the queue).
    webhook_endpoint: bool | None = None

    @classmethod
    def of(cls, payment: Payment) -> PaymentOutcome:
        """The outcome of a final payment (its ``updated_at`` is when it became final)."""
        if not payment.status.final:
            raise ValueError(f"payment {payment.id} is not final")
        return cls(
            payment.id,
            payment.merchant_id,
            payment.amount,
            payment.currency,
            payment.status,
            payment.decline_reason,
            payment.created_at,
            payment.updated_at,
        )

    @classmethod
    def decided(
        cls, created: PaymentCreated, to: PaymentStatus, now: datetime, reason: str | None
    ) -> PaymentOutcome:
        """The outcome of a decision written ``Pending → to`` at ``now`` (with ``reason``):
        the payment's own fields from its ``PaymentCreated`` event (none changes after
        creation), the rest as written, so no read of the stored item is needed."""
        check_transition(PaymentStatus.PENDING, to, reason)
        return cls(
            created.payment_id,
            created.merchant_id,
            created.amount,
            created.currency,
            to,
            reason,
            created.created_at,
            now,
        )

    @property
    def event_type(self) -> str:
        return OUTCOME_TYPES[self.status]

    def routing_attributes(self) -> dict[str, str]:
        return {NO_WEBHOOK_ENDPOINT: "true"} if self.webhook_endpoint is False else {}

    def to_message(self) -> str:
        return json.dumps(
            {
                "type": self.event_type,
                "version": OUTCOME_VERSION,
                "payment_id": self.payment_id,
                "merchant_id": self.merchant_id,
                "amount": format_amount(self.amount, self.currency),
                "currency": self.currency,
                "status": self.status.value,
                "decline_reason": self.decline_reason,
                "created_at": format_time(self.created_at),
                "occurred_at": format_time(self.occurred_at),
            },
            separators=(",", ":"),
        )
