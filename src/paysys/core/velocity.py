"""The velocity take of one payment, planned: pure code, no I/O (see ``rules`` for the rules).

A merchant's minute is ``shards`` counter items (``#velocity#<merchant>#<minute>#<shard>``).
The limits are split exactly over them: shard ``i`` allows ``count // S`` payments, one more
for the first ``count % S`` shards, and likewise the amount in the currency's minor units,
so the items' shares add up to the limit, never more. A payment's take is a short fixed
sequence of *tries* (``VelocityTry``), each one all-or-nothing write of one or more items:

- try ``j`` starts at the ``j``-th shard of the payment's order (its own shard, then the next
  ones, wrapping: a rotation fixed by its id); the start item counts the payment (``n`` + 1);
- with an amount limit, try 0 spans as many shards as the amount needs (1 when it fits the
  start item's share, else the fewest next ones whose shares add up to it) and each later try
  one shard more (smaller parts fit room that earlier takes left spread over the shards),
  the amount split over them in proportion to their shares, at the minor unit;
- at most ``MAX_TAKE_TRIES`` tries: a payment refused by all of them is declined.

Each try carries a token derived from the payment id and the try itself (its items, parts and
caps): a retry of the decision replays the same sequence, a try refused before is refused
again (counters only grow within a minute), and the one that succeeded before meets its own
token, which the store answers with success without applying it twice.

The window is the minute of the payment's ``created_at``, not of the decision: every attempt
at deciding a payment (an aiodynamo retry, an in-place retry, a redelivery, the reconciler's
republish) takes in the same window with the same tokens.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

from paysys.core.currencies import minor_unit
from paysys.core.domain import PaymentCreated
from paysys.core.partition_keys import shard_of

VELOCITY_PREFIX = "#velocity#"
# A minute's counter lives this long past its minute (DynamoDB TTL deletes it later still): a
# payment decided later than that after its creation may find its minute counted anew.
VELOCITY_TTL_SECONDS = 3600
# A payment whose tries are all refused is declined: bounds the writes a decline costs.
MAX_TAKE_TRIES = 4
TOKEN_BYTES = 18  # 36 hex characters: DynamoDB's ClientRequestToken limit


@dataclass(frozen=True, slots=True)
class Velocity:
    payments_per_minute: int | None = None
    amount_per_minute: Mapping[str, Decimal] = field(default_factory=dict)
    shards: int = 1


@dataclass(frozen=True, slots=True)
class VelocityPart:
    """One counter item's part of a try: add ``count`` (1 on the item that counts the
    payment, else 0) and ``amount`` unless that passes the item's caps."""

    key: str
    count: int
    amount: Decimal
    max_count: int | None  # the item's share of the count limit (checked when ``count``)
    max_amount: Decimal | None  # the item's share of the amount limit


@dataclass(frozen=True, slots=True)
class VelocityTry:
    """One all-or-nothing write of its parts; ``token`` names it (the same on every retry)."""

    token: str
    parts: tuple[VelocityPart, ...]


@dataclass(frozen=True, slots=True)
class VelocityWindow:
    """A payment's take: its tries in order, the first that is not refused takes."""

    payment_id: str
    currency: str
    expires_at: int  # epoch seconds: the counter items' TTL
    tries: tuple[VelocityTry, ...]


def minute_of(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(second=0, microsecond=0)


def counter_key(merchant_id: str, minute: datetime, shard: int) -> str:
    return f"{VELOCITY_PREFIX}{merchant_id}#{minute.strftime('%Y-%m-%dT%H:%M')}#{shard}"


def shares(total: int, shards: int) -> list[int]:
    """``total`` split over ``shards``: the first ``total % shards`` get one more."""
    return [total // shards + (1 if i < total % shards else 0) for i in range(shards)]


def velocity_window(velocity: Velocity, event: PaymentCreated) -> VelocityWindow | None:
    """The take of ``event``'s payment, or None when no velocity limit applies to it."""
    count, limit = velocity.payments_per_minute, velocity.amount_per_minute.get(event.currency)
    if count is None and limit is None:
        return None
    shards, minute = velocity.shards, minute_of(event.created_at)
    expires_at = int(minute.timestamp()) + 60 + VELOCITY_TTL_SECONDS
    own = shard_of(event.payment_id, shards)
    order = [(own + j) % shards for j in range(shards)]
    counts = None if count is None else shares(count, shards)
    places = _places(event.currency, event.amount, limit)
    caps = None if limit is None else shares(_units(limit, places), shards)
    need = _units(event.amount, places)
    tries: list[VelocityTry] = []
    for j, first in enumerate(order):
        if len(tries) == MAX_TAKE_TRIES:
            break
        if counts is not None and counts[first] == 0:
            continue  # this shard allows no payment at all
        split = _split(order[j:] + order[:j], caps, need, j)
        if split is None:
            break  # more than the whole minute allows
        parts = tuple(
            VelocityPart(
                key=counter_key(event.merchant_id, minute, shard),
                count=1 if i == 0 else 0,
                amount=Decimal(units).scaleb(-places),
                max_count=None if counts is None or i else counts[shard],
                max_amount=None if caps is None else Decimal(caps[shard]).scaleb(-places),
            )
            for i, (shard, units) in enumerate(split)
        )
        tries.append(
            VelocityTry(_token(event.payment_id, event.currency, expires_at, parts), parts)
        )
    return VelocityWindow(event.payment_id, event.currency, expires_at, tuple(tries))


def _split(
    order: Sequence[int], caps: Sequence[int] | None, need: int, more: int
) -> list[tuple[int, int]] | None:
    """(shard, units) from ``order[0]`` on: the fewest shards whose caps hold ``need`` and
    ``more`` shards besides (as many as there are), split in proportion to their caps (the
    first always: it counts the payment); None: all the caps cannot hold it."""
    if caps is None:
        return [(order[0], need)]
    fewest = next(
        (k for k in range(1, len(order) + 1) if sum(caps[s] for s in order[:k]) >= need), None
    )
    if fewest is None:
        return None
    span = list(order[: fewest + more])
    total = sum(caps[s] for s in span)
    units = [need * caps[s] // total for s in span]
    for i, shard in enumerate(span):  # the rounding's remainder, where a cap has room
        extra = min(need - sum(units), caps[shard] - units[i])
        units[i] += extra
    return [(s, u) for i, (s, u) in enumerate(zip(span, units, strict=True)) if u or i == 0]


def _places(currency: str, *amounts: Decimal | None) -> int:
    """The decimal places the take counts in: the currency's minor unit, or finer when an
    amount is (a payment stored before minor units were checked)."""
    exponents = [a.normalize().as_tuple().exponent for a in amounts if a is not None]
    finest = [-e for e in exponents if isinstance(e, int) and e < 0]
    return max([minor_unit(currency), *finest])


def _units(amount: Decimal, places: int) -> int:
    return math.floor(amount.scaleb(places))


def _token(payment_id: str, currency: str, expires_at: int, parts: Sequence[VelocityPart]) -> str:
    """The try's request token: the same try (same payment, items, parts and caps) always has
    the same token, a different one never (a changed rule cannot reuse a token)."""
    text = "|".join(
        [payment_id, currency, str(expires_at)]
        + [f"{p.key},{p.count},{p.amount},{p.max_count},{p.max_amount}" for p in parts]
    )
    return hashlib.blake2b(text.encode(), digest_size=TOKEN_BYTES).hexdigest()
