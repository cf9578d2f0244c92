"""Recording each webhook attempt in the delivery's history (``GET /payments/{id}/
webhook-deliveries``), best effort.

An attempt is recorded before its message is deleted or hidden. The record is a log, not the
delivery: when DynamoDB cannot take it, the delivery goes on (counted ``history_lost`` and
logged ``webhook.history_lost``) rather than being made again for the sake of its log line.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Protocol

import structlog

from paysys.adapters.webhook_http import Attempt
from paysys.core.deliveries import ATTEMPTS_ATTRIBUTE, AttemptResult, DeliveryAttempt
from paysys.core.ports import QueueMessage
from paysys.core.webhooks import WebhookEndpoint
from paysys.errors import BackendUnavailable

log = structlog.get_logger(__name__)


# One delivery: its message, the endpoint, the event type and the payment.
Target = tuple[QueueMessage, WebhookEndpoint, str, str]


class History(Protocol):
    async def record(
        self, payment_id: str, endpoint: WebhookEndpoint, event_type: str, attempt: DeliveryAttempt
    ) -> bool: ...


def attempt_number(message: QueueMessage) -> int:
    """The message's receive count, after the attempts of the rounds before it (a retry
    asked for through the API carries their number)."""
    earlier = message.attributes.get(ATTEMPTS_ATTRIBUTE, "")
    return (int(earlier) if earlier.isdigit() else 0) + message.receive_count


def history_entry(
    message: QueueMessage, attempt: Attempt, result: AttemptResult, now: float, delay: int | None
) -> DeliveryAttempt:
    return DeliveryAttempt(
        attempt=attempt_number(message),
        at=datetime.fromtimestamp(now, UTC),
        status_code=attempt.status,
        latency_ms=round(attempt.seconds * 1000, 1),
        result=result,
        next_retry_at=datetime.fromtimestamp(now + delay, UTC) if delay is not None else None,
        error=attempt.error,
    )


class AttemptRecorder:
    def __init__(self, history: History | None, results: Counter[str]) -> None:
        self._history = history
        self._results = results

    async def record(
        self,
        target: Target,
        attempt: Attempt,
        result: AttemptResult,
        *,
        now: float,
        delay: int | None = None,
    ) -> None:
        if self._history is None:
            return
        message, endpoint, event_type, payment_id = target
        entry = history_entry(message, attempt, result, now, delay)
        try:
            await self._history.record(payment_id, endpoint, event_type, entry)
        except BackendUnavailable as exc:
            self._results["history_lost"] += 1
            log.warning("webhook.history_lost", attempt=entry.attempt, error=str(exc))
