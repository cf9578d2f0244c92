"""Webhook delivery history: the attempts of one payment's outcome at one endpoint.

A delivery is one outcome event of one payment to one of the merchant's endpoints (a payment
has one outcome, a merchant at most ``WEBHOOK_ENDPOINTS_MAX`` endpoints, so a payment has at
most that many deliveries). Its id names the payment and the endpoint's slot, so it is found
by key: ``wd_<payment id>_<slot>``. The last ``HISTORY_ATTEMPTS`` attempts are kept; attempt
``n`` is stored in place ``n % HISTORY_ATTEMPTS``, so writing the same attempt twice (a retry
whose first write committed) changes nothing. Values and rules only, no I/O.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from paysys.core.domain import format_time
from paysys.core.limits import WEBHOOK_ENDPOINTS_MAX
from paysys.errors import WebhookDeliveryNotFound

HISTORY_ATTEMPTS = 6
ERROR_MAX_CHARS = 48  # an attempt's error, cut (bytes): what failed, not a traceback
DELIVERY_PREFIX = "wd_"
OVERDUE = timedelta(minutes=15)  # a next attempt this late is taken for lost: retry allowed
AttemptResult = Literal["delivered", "retry", "failed"]
# Message attributes on the delivery queue: the one endpoint a copy is for (a fan-out copy,
# a retry asked for), and the attempts made before this message (a retry asked for).
TARGET_ATTRIBUTE = "webhook_endpoint"
ATTEMPTS_ATTRIBUTE = "webhook_attempts"


@dataclass(frozen=True, slots=True)
class DeliveryAttempt:
    attempt: int  # the message's receive count (plus earlier rounds' attempts after a retry)
    at: datetime
    status_code: int | None  # None: no answer (refused, timed out, not signed)
    latency_ms: float
    result: AttemptResult
    next_retry_at: datetime | None = None  # set when ``result`` is "retry"
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "attempt": self.attempt,
            "at": format_time(self.at),
            "status_code": self.status_code,
            "latency_ms": self.latency_ms,
            "result": self.result,
            "next_retry_at": format_time(self.next_retry_at) if self.next_retry_at else None,
            "error": self.error,
        }


@dataclass(frozen=True, slots=True)
class Delivery:
    payment_id: str
    slot: int
    endpoint_id: str
    event_type: str
    attempts: tuple[DeliveryAttempt, ...]  # oldest first, at most HISTORY_ATTEMPTS

    @property
    def delivery_id(self) -> str:
        return delivery_id(self.payment_id, self.slot)

    @property
    def attempt_count(self) -> int:
        return self.attempts[-1].attempt if self.attempts else 0

    @property
    def state(self) -> str:
        """``delivered``, ``failed`` (the retry window passed) or ``retrying``, by the last
        attempt."""
        if not self.attempts:
            return "pending"
        last = self.attempts[-1].result
        return "retrying" if last == "retry" else last

    def scheduled(self, now: datetime) -> datetime | None:
        """When the next attempt is due, if one is on the queue: the last attempt asked for
        a retry and it is not long overdue (a message gone to the dead-letter queue, or
        otherwise lost, would leave it "retrying" for ever)."""
        last = self.attempts[-1] if self.attempts else None
        if last is None or last.result != "retry" or last.next_retry_at is None:
            return None
        return last.next_retry_at if now - last.next_retry_at < OVERDUE else None

    def to_json(self) -> dict[str, Any]:
        last = self.attempts[-1] if self.attempts else None
        return {
            "id": self.delivery_id,
            "payment_id": self.payment_id,
            "endpoint_id": self.endpoint_id,
            "event_type": self.event_type,
            "event_id": f"{self.payment_id}.{self.event_type}",
            "state": self.state,
            "attempt_count": self.attempt_count,
            "next_retry_at": (
                format_time(last.next_retry_at) if last and last.next_retry_at else None
            ),
            "attempts": [a.to_json() for a in self.attempts],
        }


def delivery_id(payment_id: str, slot: int) -> str:
    return f"{DELIVERY_PREFIX}{payment_id}_{slot}"


def parse_delivery_id(text: str) -> tuple[str, int]:
    """The payment id and slot a delivery id names; ``WebhookDeliveryNotFound`` for anything
    that is not one (answered as a 404, like an unknown id)."""
    payment_id, _, slot = text.removeprefix(DELIVERY_PREFIX).rpartition("_")
    if (
        not text.startswith(DELIVERY_PREFIX)
        or len(text) > 64
        or len(slot) != 1
        or slot not in "0123456789"  # ASCII only: "²".isdigit() is true, int("²") fails
        or int(slot) >= WEBHOOK_ENDPOINTS_MAX
        or not _canonical_uuid(payment_id)  # one spelling per delivery
    ):
        raise WebhookDeliveryNotFound(text[:64])
    return payment_id, int(slot)


def _canonical_uuid(text: str) -> bool:
    try:
        return str(uuid.UUID(text)) == text
    except ValueError:
        return False


def short_error(error: str | None) -> str | None:
    """At most ``ERROR_MAX_CHARS`` bytes of UTF-8 (the item's size is counted in bytes)."""
    if error is None:
        return None
    return error.encode()[:ERROR_MAX_CHARS].decode(errors="ignore")
