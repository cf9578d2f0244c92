"""PaymentRepository and IdempotencyStore in memory, with DynamoDB's conditional writes."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from paysys.core.domain import Payment, PaymentStatus
from paysys.core.ports import Claim, ClaimState
from paysys.errors import IdempotencyConflict, IdempotencyKeyReused, PaymentNotFound


class FakePayments:
    """PaymentRepository: one dict, with DynamoDB's conditional put and update."""

    def __init__(self) -> None:
        self._items: dict[str, Payment] = {}

    async def add(self, payment: Payment) -> bool:
        if payment.id in self._items:
            return False
        self._items[payment.id] = payment
        return True

    async def get(self, payment_id: str) -> Payment:
        try:
            return self._items[payment_id]
        except KeyError:
            raise PaymentNotFound(payment_id) from None

    async def approve(self, payment_id: str, now: datetime) -> bool:
        current = await self.get(payment_id)
        if current.status is PaymentStatus.APPROVED:
            return False
        self._items[payment_id] = dataclasses.replace(
            current, status=PaymentStatus.APPROVED, approved_at=now, updated_at=now
        )
        return True

    async def pending_before(self, cutoff: datetime, limit: int) -> list[Payment]:
        stale = [p for p in self._by_status(PaymentStatus.PENDING) if p.created_at < cutoff]
        return stale[:limit]

    async def recent(self, status: PaymentStatus, limit: int) -> list[Payment]:
        return self._by_status(status)[::-1][:limit]

    async def count(self, status: PaymentStatus) -> int:
        return len(self._by_status(status))

    async def ping(self) -> None:
        pass

    def _by_status(self, status: PaymentStatus) -> list[Payment]:
        """Oldest first, as the status index orders them."""
        matching = (p for p in self._items.values() if p.status is status)
        return sorted(matching, key=lambda p: p.created_at)


@dataclass
class _Key:
    fingerprint: str
    payment_id: str
    locked_until: int
    expires_at: int
    response: str | None = None  # set once done (stored as JSON text, as DynamoDB holds it)


@dataclass
class FakeIdempotency:
    """IdempotencyStore: claims are leases of ``lock_seconds``, records live ``ttl_seconds``.
    Times are whole epoch seconds, as the DynamoDB store keeps them."""

    ttl_seconds: int = 86_400
    lock_seconds: int = 30
    _keys: dict[str, _Key] = field(default_factory=dict)

    async def claim(self, key: str, fingerprint: str, payment_id: str, now: datetime) -> Claim:
        epoch = int(now.timestamp())
        held = self._keys.get(key)
        if held is None or held.expires_at < epoch:  # an expired record counts as absent
            self._keys[key] = _Key(
                fingerprint, payment_id, epoch + self.lock_seconds, epoch + self.ttl_seconds
            )
            return Claim(ClaimState.NEW, payment_id)
        if held.fingerprint != fingerprint:
            raise IdempotencyKeyReused(
                "this Idempotency-Key was used with a different request body"
            )
        if held.response is not None:
            return Claim(ClaimState.DONE, held.payment_id, json.loads(held.response))
        if held.locked_until > epoch:
            raise IdempotencyConflict("a request with this Idempotency-Key is in progress")
        held.locked_until = epoch + self.lock_seconds
        return Claim(ClaimState.RESUMED, held.payment_id)

    async def complete(self, key: str, response: dict[str, Any], now: datetime) -> None:
        held = self._keys[key]
        held.response = json.dumps(response)
        held.expires_at = int(now.timestamp()) + self.ttl_seconds

    async def release(self, key: str) -> None:
        held = self._keys.get(key)
        if held is not None and held.response is None:
            held.locked_until = 0
