"""PaymentRepository and LeaseStore over DynamoDB (aiodynamo). Money is Decimal end to end.

Every write is one conditional request on one item: no transaction, no hot item
(``paysys.core.partition_keys``). The process that made a transition journals its count
(``dynamodb_counts``); the worker's rollup (``counter_rollup``) folds the journals into one
item per merchant, so ``/stats`` is one read, at most ~10 s behind. Only the call whose
conditional write succeeded counts, and the rollup applies each journal item once; a count
is off only by what a killed process still buffered (one flush at most). Every payment's
own state is always exact.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import structlog
from aiodynamo.client import Client
from aiodynamo.errors import ConditionalCheckFailed, ItemNotFound
from aiodynamo.expressions import F, UpdateExpression
from aiodynamo.models import ReturnValues

from paysys.adapters import counter_journal
from paysys.adapters.dynamodb_counts import CountedOnce, CounterWriter
from paysys.adapters.dynamodb_due import claim_outbox, claim_pending, due_in
from paysys.adapters.dynamodb_items import (
    OUTBOX_INDEX,
    PENDING_INDEX,
    Layout,
    batch_get,
    dynamo_translated,
    from_item,
    to_item,
)
from paysys.adapters.dynamodb_list import read_page
from paysys.adapters.dynamodb_prepared import decision_update
from paysys.core import partition_keys
from paysys.core.domain import (
    Payment,
    PaymentCreated,
    PaymentStatus,
    check_transition,
    format_time,
)
from paysys.core.outcomes import PaymentOutcome
from paysys.core.ports import Counts, Due, ListPage, ListPosition
from paysys.errors import BackendUnavailable, PaymentNotFound

log = structlog.get_logger(__name__)

# The item attributes that name the token of the write that created a payment, and of the
# transition that made it final: a retry of that write recognises its own success by them.
CREATED_BY = "created_by"
DECIDED_BY = "decided_by"


@dataclass(frozen=True, slots=True)
class DynamoPayments:
    client: Client
    table: str
    layout: Layout = field(default_factory=Layout)
    counters: CounterWriter | None = None  # None: each count journalled at once
    counted: CountedOnce = field(default_factory=CountedOnce)  # transitions counted, by token

    def __post_init__(self) -> None:
        if self.counters is None:
            writer = CounterWriter(self.client, self.table, self.layout.counter_shards)
            object.__setattr__(self, "counters", writer)

    @property
    def _counters(self) -> CounterWriter:
        assert self.counters is not None  # noqa: S101 - set by __post_init__
        return self.counters

    async def add(self, payment: Payment, token: str = "") -> bool:
        item, condition = to_item(payment, self.layout), F("id").does_not_exist()
        if token:  # a retry of this very put passes, while the payment is still as it wrote it
            item[CREATED_BY] = token
            condition = condition | (
                F(CREATED_BY).equals(token) & F("status").equals(PaymentStatus.PENDING.value)
            )
        try:
            async with dynamo_translated("PutItem"):
                await self.client.put_item(self.table, item, condition=condition)
        except ConditionalCheckFailed:
            if not token or (await self._raw(payment.id)).get(CREATED_BY) != token:
                return False  # another request stored this id
            log.info("payment.store_confirmed", how="own_earlier_attempt")
        if not token or self.counted.first(token):  # the attempt that committed never counted
            await self._count(payment, {payment.status: 1}, first=True)
        return True

    async def _raw(self, payment_id: str) -> dict[str, Any]:
        try:
            async with dynamo_translated("GetItem"):
                return await self.client.get_item(
                    self.table, {"id": payment_id}, consistent_read=True
                )
        except ItemNotFound:
            raise PaymentNotFound(payment_id) from None

    async def get(self, payment_id: str) -> Payment:
        return from_item(await self._raw(payment_id))

    async def transition(
        self,
        payment_id: str,
        to: PaymentStatus,
        now: datetime,
        reason: str | None = None,
        token: str = "",
    ) -> Payment | None:
        try:  # rare (a cancel): the whole item back, ALL_NEW
            item = await self._move(payment_id, to, now, reason, token, outbox=True)
        except ConditionalCheckFailed:
            return await self._moved_by(payment_id, to, token)
        if item is None:
            return None
        moved = from_item(item)
        await self._count_move(token, moved.merchant_id, moved.id, moved.created_at, moved.status)
        return moved

    async def decide(
        self,
        created: PaymentCreated,
        to: PaymentStatus,
        now: datetime,
        reason: str | None = None,
        token: str = "",
    ) -> PaymentOutcome | None:
        """Nothing asked back (``ReturnValues`` NONE): the outcome and the count need only
        the event's fields and the values this write set, which a success stored as sent."""
        outcome = PaymentOutcome.decided(created, to, now, reason)
        try:
            await self._move(created.payment_id, to, now, reason, token, outbox=False)
        except ConditionalCheckFailed:  # maybe our own earlier write: read back whole
            current = await self._moved_by(created.payment_id, to, token)
            return None if current is None else PaymentOutcome.of(current)
        await self._count_move(
            token, created.merchant_id, outcome.payment_id, created.created_at, to
        )
        return outcome

    async def _move(
        self, payment_id: str, to: PaymentStatus, now: datetime, reason: str | None, token: str,
        *, outbox: bool,
    ) -> dict[str, Any] | None:  # fmt: skip
        """The conditional write ``Pending → to``; with the outbox mark it returns the item as
        moved (ALL_NEW), without it nothing (NONE). Raises ``ConditionalCheckFailed``."""
        check_transition(PaymentStatus.PENDING, to, reason)
        extra = self._outbox_mark(payment_id, now) if outbox else None
        update = decision_update(
            to, format_time(now), reason, token, token_attribute=DECIDED_BY, extra=extra
        )
        async with dynamo_translated("UpdateItem"):
            return await self.client.update_item(
                self.table,
                {"id": payment_id},
                update,
                condition=F("status").equals(PaymentStatus.PENDING.value),
                return_values=ReturnValues.all_new if outbox else ReturnValues.none,
            )

    async def _count_move(
        self, token: str, merchant_id: str, payment_id: str, created_at: datetime, to: PaymentStatus
    ) -> None:
        """Count ``Pending → to`` once per token: by the call that made it, or by the retry
        that recognised it (the attempt that committed never returned to count)."""
        if not token or self.counted.first(token):
            deltas = {PaymentStatus.PENDING: -1, to: 1}
            await self._counters.count(merchant_id, payment_id, created_at, deltas)

    async def _moved_by(self, payment_id: str, to: PaymentStatus, token: str) -> Payment | None:
        """After a failed condition: the payment if ``token`` moved it (an earlier attempt of
        this write committed, its reply lost: counted now, as that attempt never did), None
        if another writer did; ``PaymentNotFound`` if there is no such payment."""
        item = await self._raw(payment_id)
        current = from_item(item)
        if not current.status.final:
            raise BackendUnavailable(
                f"payment {payment_id} is {current.status}, cannot move it to {to}"
            )
        if not token or item.get(DECIDED_BY) != token:
            return None
        log.info("payment.transition_confirmed", status=current.status.value)
        await self._count_move(
            token, current.merchant_id, current.id, current.created_at, current.status
        )
        return current

    async def due(self, shard: int, now: datetime, limit: int) -> list[Due]:
        key = f"{partition_keys.PENDING_PREFIX}{shard}"
        keys = ("pending_shard", key, "due_at")
        return await due_in(self.client, self.table, PENDING_INDEX, keys, now=now, limit=limit)

    async def claim(self, due: Due, next_due: datetime) -> Payment | None:
        return await claim_pending(self.client, self.table, due, next_due)

    async def outbox(self, shard: int, now: datetime, limit: int) -> list[Due]:
        key = f"{partition_keys.OUTBOX_PREFIX}{shard}"
        keys = ("outbox_shard", key, "outbox_at")
        return await due_in(self.client, self.table, OUTBOX_INDEX, keys, now=now, limit=limit)

    async def claim_outbox(self, due: Due, next_due: datetime) -> Payment | None:
        return await claim_outbox(self.client, self.table, due, next_due)

    def _outbox_mark(self, payment_id: str, now: datetime) -> UpdateExpression:
        shard = partition_keys.outbox_shard(payment_id, self.layout.pending_shards)
        due = format_time(now + self.layout.reconcile_after)
        return F("outbox_shard").set(shard) & F("outbox_at").set(due)

    async def mark_outbox(self, payment_id: str, now: datetime) -> None:
        try:
            async with dynamo_translated("UpdateItem"):
                await self.client.update_item(
                    self.table,
                    {"id": payment_id},
                    self._outbox_mark(payment_id, now),
                    condition=F("id").exists(),  # never create an item
                )
        except ConditionalCheckFailed:
            raise PaymentNotFound(payment_id) from None

    async def clear_outbox(self, payment_id: str) -> None:
        try:
            async with dynamo_translated("UpdateItem"):
                await self.client.update_item(
                    self.table,
                    {"id": payment_id},
                    F("outbox_shard").remove() & F("outbox_at").remove(),
                    condition=F("id").exists(),  # never create an item
                )
        except ConditionalCheckFailed:
            raise PaymentNotFound(payment_id) from None

    async def page(
        self,
        merchant_id: str,
        position: ListPosition,
        limit: int,
        oldest_month: str,
        status: PaymentStatus | None = None,
    ) -> ListPage:
        return await read_page(
            self.client, self.table, self.layout.list_shards,
            merchant_id, position, limit, oldest_month, status,
        )  # fmt: skip

    async def counts(self, merchant_id: str) -> Counts:
        """One consistent read of the merchant's counter item (what the rollup applied)."""
        try:
            async with dynamo_translated("GetItem"):
                item = await self.client.get_item(
                    self.table,
                    {"id": counter_journal.merchant_counter_id(merchant_id)},
                    consistent_read=True,
                )
        except ItemNotFound:
            item = {}
        return counter_journal.counts_of([item])

    async def platform_counts(self) -> Counts:
        """Every merchant's payments by status: the rollup shards' totals (S reads)."""
        ids = [counter_journal.platform_counter_id(s) for s in range(self.layout.counter_shards)]
        return counter_journal.counts_of(
            list((await batch_get(self.client, self.table, ids)).values())
        )

    async def ping(self) -> None:
        async with dynamo_translated("DescribeTable"):
            await self.client.describe_table(self.table)

    async def count_existing(self, payment: Payment) -> None:
        """Count a payment stored before counters existed (the migration's backfill): it is
        journalled like any count, and applied by the rollup."""
        await self._count(payment, {payment.status: 1}, first=True)

    async def _count(
        self, payment: Payment, deltas: dict[PaymentStatus, int], *, first: bool = False
    ) -> None:
        await self._counters.count(
            payment.merchant_id, payment.id, payment.created_at, deltas, first=first
        )
