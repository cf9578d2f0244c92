"""PaymentRepository and IdempotencyStore in memory, with DynamoDB's conditional writes."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from paysys.adapters.dynamodb_items import Layout
from paysys.adapters.dynamodb_list import FILTER_BUDGET, MAX_MONTHS_PER_PAGE
from paysys.core import partition_keys
from paysys.core.domain import (
    Payment,
    PaymentCreated,
    PaymentStatus,
    check_transition,
    format_time,
)
from paysys.core.outcomes import PaymentOutcome
from paysys.core.ports import Claim, ClaimState, Counts, Due, ListPage, ListPosition
from paysys.core.velocity import VelocityTry, VelocityWindow
from paysys.errors import IdempotencyConflict, IdempotencyKeyReused, PaymentNotFound


class FakePayments:
    """PaymentRepository: one dict, with DynamoDB's conditional writes, the sparse pending
    index (``due_at`` per payment not yet final), month-bucketed listing and counters."""

    def __init__(self, layout: Layout | None = None) -> None:
        self.layout = layout or Layout()
        self._items: dict[str, Payment] = {}
        self._due: dict[str, datetime] = {}  # present while not final
        self._outbox: dict[str, datetime] = {}  # final, outcome not known to be published
        self._decided_by: dict[str, str] = {}  # the token of the transition that made it final
        self._created_by: dict[str, str] = {}  # the token of the put that stored it
        self._counted: set[str] = set()  # tokens whose put or move was counted
        self._counts: Counter[tuple[str, PaymentStatus]] = Counter()
        self._first_month: dict[str, str] = {}

    async def add(self, payment: Payment, token: str = "") -> bool:
        if payment.id in self._items:
            if not token or self._created_by.get(payment.id) != token:
                return False  # another request stored this id
            if token in self._counted:
                return True  # this token's own earlier success, already counted
        else:
            self.commit_only(payment, token)
        self._counted.add(token)
        await self.count_existing(payment)
        return True

    def commit_only(self, payment: Payment, token: str = "") -> None:
        """What a put whose reply was lost leaves: the item, but not counted (the adapter
        counts only once the put answered, or its retry recognised it)."""
        self._items[payment.id] = payment
        self._created_by[payment.id] = token
        if payment.status is PaymentStatus.PENDING:
            self._due[payment.id] = payment.created_at + self.layout.reconcile_after

    async def count_existing(self, payment: Payment) -> None:
        self._counts[payment.merchant_id, payment.status] += 1
        month = partition_keys.month_of(payment.created_at)
        self._first_month.setdefault(payment.merchant_id, month)
        self._first_month[payment.merchant_id] = min(self._first_month[payment.merchant_id], month)

    async def get(self, payment_id: str) -> Payment:
        try:
            return self._items[payment_id]
        except KeyError:
            raise PaymentNotFound(payment_id) from None

    async def transition(
        self,
        payment_id: str,
        to: PaymentStatus,
        now: datetime,
        reason: str | None = None,
        token: str = "",
    ) -> Payment | None:
        moved, _ = await self._move(payment_id, to, now, reason, token, outbox=True)
        return moved

    async def decide(
        self,
        created: PaymentCreated,
        to: PaymentStatus,
        now: datetime,
        reason: str | None = None,
        token: str = "",
    ) -> PaymentOutcome | None:
        """As the adapter: the outcome of a move made now is built from ``created`` and the
        values written; a token's own earlier move is read back whole."""
        outcome = PaymentOutcome.decided(created, to, now, reason)
        moved, now_moved = await self._move(
            created.payment_id, to, now, reason, token, outbox=False
        )
        if moved is None:
            return None
        return outcome if now_moved else PaymentOutcome.of(moved)

    def decide_only(
        self, payment_id: str, to: PaymentStatus, now: datetime, reason: str | None, token: str
    ) -> None:
        """What a decision whose reply was lost leaves: the payment moved by ``token``, not
        counted (the adapter counts only once the write answered, or its retry recognised
        it)."""
        check_transition(PaymentStatus.PENDING, to, reason)
        current = self._items[payment_id]
        if current.status.final:
            raise ValueError(f"payment {payment_id} is already {current.status}")
        self._items[payment_id] = current.moved_to(to, now, reason)
        self._decided_by[payment_id] = token
        self._due.pop(payment_id, None)

    async def _move(
        self, payment_id: str, to: PaymentStatus, now: datetime, reason: str | None, token: str,
        *, outbox: bool,
    ) -> tuple[Payment | None, bool]:  # fmt: skip
        """The payment as moved by ``token`` (None: by another writer), and whether by this
        call (False: by an earlier call with the token, its reply lost)."""
        check_transition(PaymentStatus.PENDING, to, reason)
        current = await self.get(payment_id)
        if current.status.final:
            if not token or self._decided_by.get(payment_id) != token:
                return None, False  # another writer's move
            if token not in self._counted:  # committed, its reply lost: counted now
                self._counted.add(token)
                self._counts[current.merchant_id, PaymentStatus.PENDING] -= 1
                self._counts[current.merchant_id, current.status] += 1
            return current, False  # this token's own earlier move
        moved = current.moved_to(to, now, reason)
        self._items[payment_id] = moved
        if token:
            self._decided_by[payment_id] = token
            self._counted.add(token)
        self._due.pop(payment_id, None)
        if outbox:
            self._outbox[payment_id] = now + self.layout.reconcile_after
        self._counts[current.merchant_id, PaymentStatus.PENDING] -= 1
        self._counts[current.merchant_id, to] += 1
        return moved, True

    async def due(self, shard: int, now: datetime, limit: int) -> list[Due]:
        mine = [
            Due(pid, at, self._items[pid].created_at)
            for pid, at in self._due.items()
            if at < now and partition_keys.shard_of(pid, self.layout.pending_shards) == shard
        ]
        return sorted(mine, key=lambda d: d.due_at)[:limit]

    async def claim(self, due: Due, next_due: datetime) -> Payment | None:
        if self._due.get(due.payment_id) not in (due.due_at, next_due):  # or its own retry
            return None
        self._due[due.payment_id] = next_due
        return self._items[due.payment_id]

    async def outbox(self, shard: int, now: datetime, limit: int) -> list[Due]:
        mine = [
            Due(pid, at, self._items[pid].created_at)
            for pid, at in self._outbox.items()
            if at < now and partition_keys.shard_of(pid, self.layout.pending_shards) == shard
        ]
        return sorted(mine, key=lambda d: d.due_at)[:limit]

    async def claim_outbox(self, due: Due, next_due: datetime) -> Payment | None:
        if self._outbox.get(due.payment_id) not in (due.due_at, next_due):  # or its own retry
            return None
        self._outbox[due.payment_id] = next_due
        return self._items[due.payment_id]

    async def clear_outbox(self, payment_id: str) -> None:
        await self.get(payment_id)
        self._outbox.pop(payment_id, None)

    async def mark_outbox(self, payment_id: str, now: datetime) -> None:
        await self.get(payment_id)
        self._outbox[payment_id] = now + self.layout.reconcile_after

    async def page(
        self,
        merchant_id: str,
        position: ListPosition,
        limit: int,
        oldest_month: str,
        status: PaymentStatus | None = None,
    ) -> ListPage:
        """The same walk as the DynamoDB adapter: month by month, newest first, at most
        ``MAX_MONTHS_PER_PAGE`` months per page."""
        found: list[Payment] = []
        month, after = position.month, position.after
        for _ in range(MAX_MONTHS_PER_PAGE):
            in_month = sorted(
                (
                    (partition_keys.list_sk(format_time(p.created_at), p.id), p)
                    for p in self._items.values()
                    if p.merchant_id == merchant_id
                    and partition_keys.month_of(p.created_at) == month
                ),
                key=lambda pair: pair[0],
                reverse=True,
            )
            older = [(sk, p) for sk, p in in_month if after is None or sk < after]
            budget = limit if status is None else limit * FILTER_BUDGET
            for sort_key, payment in older[:budget]:
                after = sort_key
                if status is None or payment.status is status:
                    found.append(payment)
                    if len(found) == limit:
                        return ListPage(found, ListPosition(month, after))
            if len(older) > budget:
                return ListPage(found, ListPosition(month, after))
            if month <= oldest_month:
                return ListPage(found, None)
            month, after = partition_keys.previous_month(month), None
        return ListPage(found, ListPosition(month, None))

    async def counts(self, merchant_id: str) -> Counts:
        by_status = {s: self._counts[merchant_id, s] for s in PaymentStatus}
        return Counts(by_status, self._first_month.get(merchant_id))

    async def platform_counts(self) -> Counts:
        by_status = {
            s: sum(n for (_, t), n in self._counts.items() if t is s) for s in PaymentStatus
        }
        months = list(self._first_month.values())
        return Counts(by_status, min(months) if months else None)

    async def ping(self) -> None:
        pass


class FakeVelocity:
    """VelocityStore: the same all-or-nothing tries as the DynamoDB transaction (no await
    between the checks and the adds, so concurrent tasks behave as concurrent transactions);
    a try whose token already took answers True without applying it again."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.amounts: dict[tuple[str, str], Decimal] = {}
        self.tokens: set[str] = set()  # the tries that took
        self.writes = 0  # tries applied or refused (token replays aside)

    async def take(self, window: VelocityWindow) -> bool:
        return any(self._try(window.currency, t) for t in window.tries)

    def _try(self, currency: str, attempt: VelocityTry) -> bool:
        if attempt.token in self.tokens:
            return True  # its own earlier success, whose reply was lost
        self.writes += 1
        for p in attempt.parts:
            taken = self.amounts.get((p.key, currency), Decimal(0))
            if p.count and p.max_count is not None and self.counts[p.key] >= p.max_count:
                return False
            if p.max_amount is not None and taken + p.amount > p.max_amount:
                return False
        for p in attempt.parts:
            self.counts[p.key] += p.count
            self.amounts[p.key, currency] = (
                self.amounts.get((p.key, currency), Decimal(0)) + p.amount
            )
        self.tokens.add(attempt.token)
        return True


class FakeLeases:
    """LeaseStore: a lease is free once its time has passed."""

    def __init__(self) -> None:
        self._held: dict[str, tuple[str, float]] = {}

    async def acquire(self, name: str, owner: str, now: datetime, seconds: float) -> bool:
        epoch = now.timestamp()
        held = self._held.get(name)
        if held is not None and held[1] >= epoch and held[0] != owner:  # its own: renewed
            return False
        self._held[name] = (owner, epoch + seconds)
        return True


@dataclass
class _Key:
    fingerprint: str
    payment_id: str
    locked_until: int
    expires_at: int
    done: bool = False  # the payment is stored: a replay reads it (no response is kept)
    owner: str = ""  # the token of the request holding the lease


@dataclass
class FakeIdempotency:
    """IdempotencyStore: claims are leases of ``lock_seconds``, records live ``ttl_seconds``.
    Times are whole epoch seconds, as the DynamoDB store keeps them."""

    ttl_seconds: int = 86_400
    lock_seconds: int = 30
    _keys: dict[str, _Key] = field(default_factory=dict)

    async def claim(
        self, key: str, fingerprint: str, payment_id: str, now: datetime, owner: str = ""
    ) -> Claim:
        epoch = int(now.timestamp())
        held = self._keys.get(key)
        if held is None or held.expires_at < epoch:  # an expired record counts as absent
            self._keys[key] = _Key(
                fingerprint, payment_id, epoch + self.lock_seconds, epoch + self.ttl_seconds,
                owner=owner,
            )  # fmt: skip
            return Claim(ClaimState.NEW, payment_id)
        if held.fingerprint != fingerprint:
            raise IdempotencyKeyReused(
                "this Idempotency-Key was used with a different request body"
            )
        if held.done:
            return Claim(ClaimState.DONE, held.payment_id)
        if owner and held.owner == owner:  # this request's own claim (or resume), retried
            state = ClaimState.NEW if held.payment_id == payment_id else ClaimState.RESUMED
            return Claim(state, held.payment_id)
        if held.locked_until > epoch:
            raise IdempotencyConflict("a request with this Idempotency-Key is in progress")
        held.locked_until, held.owner = epoch + self.lock_seconds, owner
        return Claim(ClaimState.RESUMED, held.payment_id)

    async def complete(self, key: str, now: datetime) -> None:
        held = self._keys[key]
        held.done = True
        held.expires_at = int(now.timestamp()) + self.ttl_seconds

    async def release(self, key: str, owner: str = "") -> None:
        held = self._keys.get(key)
        if held is not None and not held.done and (not owner or held.owner == owner):
            held.locked_until = 0
