"""VelocityStore over DynamoDB: counter items per merchant, minute and shard in the payments
table, each try of a take one ``TransactWriteItems`` of conditional updates, so N workers
never pass the limit together and a retried take is applied once.

The item (``#velocity#<merchant>#<minute>#<shard>``, ``kind`` = ``velocity``) carries ``n``
(payments), ``a_<currency>`` (amounts, only of the currencies with an amount limit: at most
``VELOCITY_CURRENCIES_MAX``, so the item stays small) and ``expires_at`` (epoch seconds, the
table's TTL attribute: DynamoDB deletes it some time after its minute). It has no index key,
so it is in no index. ``counter_changes`` is what one take writes on it.

A try's ``ClientRequestToken`` is derived from the payment and the try
(``paysys.core.velocity``): DynamoDB makes a transaction idempotent per token for 10 minutes,
so aiodynamo's own retry after a reset, the worker's in-place retry and a redelivery re-send
the same token and get success without the counters being added to twice. A refused try (a
condition false: ``TransactionCanceledException`` with a ``ConditionalCheckFailed`` reason) is
a decline, not an error; a try cancelled by a conflicting transaction or by throttling is
tried again a few times, then raises ``BackendUnavailable`` (``dynamodb_transact``).

Cost: a transactional write costs 2 write units per item (a plain update 1), so a take costs 2
per item of its try: 2 for a payment that fits its own shard (1 before transactions), 2 x k
when its amount spans k shards, and each refused try as much again (at most
``MAX_TAKE_TRIES``). Only merchants with velocity rules pay it.
"""

from __future__ import annotations

import functools
import operator
from dataclasses import dataclass
from decimal import Decimal

from aiodynamo.client import Client
from aiodynamo.expressions import Condition, F, UpdateExpression
from aiodynamo.operations import Update

from paysys.adapters.dynamodb_transact import transact
from paysys.core.velocity import VelocityPart, VelocityTry, VelocityWindow


@dataclass(frozen=True, slots=True)
class DynamoVelocity:
    client: Client
    table: str

    async def take(self, window: VelocityWindow) -> bool:
        for attempt in window.tries:
            if await self._try(window, attempt):
                return True
        return False

    async def _try(self, window: VelocityWindow, attempt: VelocityTry) -> bool:
        items = [self._update(window, part) for part in attempt.parts]
        return await transact(self.client, items, attempt.token)

    def _update(self, window: VelocityWindow, part: VelocityPart) -> Update:
        amount_field = f"a_{window.currency}"
        sets, adds = counter_changes(window, part)
        actions = [F(name).add(delta) for name, delta in adds.items()]
        actions += [F(name).set(value) for name, value in sets.items()]
        update: UpdateExpression = functools.reduce(operator.and_, actions)
        condition: Condition | None = None
        if part.count and part.max_count is not None:
            condition = F("n").does_not_exist() | F("n").lt(part.max_count)
        if part.max_amount is not None:
            room = F(amount_field).does_not_exist() | F(amount_field).lte(
                part.max_amount - part.amount
            )
            condition = room if condition is None else condition & room
        return Update(self.table, {"id": part.key}, update, condition)


def counter_changes(
    window: VelocityWindow, part: VelocityPart
) -> tuple[dict[str, str | int], dict[str, int | Decimal]]:
    """(set, add): the attributes one part of a take sets and adds on its counter item. The
    amount only where it is capped: an uncapped currency would add an attribute per currency
    a merchant uses in a minute, unbounded, and no limit reads it."""
    sets: dict[str, str | int] = {"kind": "velocity", "expires_at": window.expires_at}
    adds: dict[str, int | Decimal] = {}
    if part.count:
        adds["n"] = part.count
    if part.max_amount is not None:
        adds[f"a_{window.currency}"] = part.amount
    return sets, adds
