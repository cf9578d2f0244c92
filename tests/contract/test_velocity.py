"""VelocityStore: the all-or-nothing tries every worker shares (fake and DynamoDB agree)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from decimal import Decimal

from paysys.core.domain import PaymentCreated
from paysys.core.velocity import Velocity, VelocityWindow, velocity_window

from .conftest import Ports

MINUTE = datetime(2026, 3, 1, 12, 30, 15, tzinfo=UTC)


def merchant() -> str:
    return f"m-{uuid.uuid4().hex[:8]}"


def window(velocity: Velocity, who: str, amount: str = "10.00") -> VelocityWindow:
    """A new payment's take (its own id) for merchant ``who`` in ``MINUTE``."""
    event = PaymentCreated(str(uuid.uuid4()), Decimal(amount), "BRL", MINUTE, who)
    take = velocity_window(velocity, event)
    assert take is not None
    return take


async def test_a_count_limit_admits_exactly_the_limit_even_concurrently(ports: Ports) -> None:
    five, who = Velocity(payments_per_minute=5), merchant()
    takes = await asyncio.gather(*(ports.velocity.take(window(five, who)) for _ in range(12)))
    assert takes.count(True) == 5
    assert await ports.velocity.take(window(five, merchant())) is True  # another merchant's


async def test_an_amount_limit_counts_money(ports: Ports) -> None:
    velocity, who = Velocity(amount_per_minute={"BRL": Decimal("25.00")}), merchant()
    assert await ports.velocity.take(window(velocity, who, "10.00")) is True
    assert await ports.velocity.take(window(velocity, who, "15.00")) is True  # = limit
    assert await ports.velocity.take(window(velocity, who, "0.01")) is False
    both = Velocity(3, {"BRL": Decimal("100")})
    assert await ports.velocity.take(window(both, who, "0.01")) is True  # 3rd payment, 25.01
    assert await ports.velocity.take(window(both, who, "0.01")) is False  # the count refuses


async def test_a_take_repeated_for_the_same_payment_is_applied_once(ports: Ports) -> None:
    """A retry (aiodynamo's, the worker's in-place one, a redelivery) sends the same take
    again: it is its own earlier success, and the merchant's budget is spent once."""
    two, who = Velocity(payments_per_minute=2, amount_per_minute={"BRL": Decimal("30")}), merchant()
    first = window(two, who)
    assert [await ports.velocity.take(first) for _ in range(3)] == [True] * 3
    assert await ports.velocity.take(window(two, who)) is True  # the 2nd payment has room
    assert await ports.velocity.take(window(two, who)) is False  # a 3rd has not
    assert await ports.velocity.take(first) is True  # and the 1st is still taken


async def test_sharded_a_payment_above_one_share_takes_when_the_minute_has_room(
    ports: Ports,
) -> None:
    """4 shards of a 100.00 minute: 60.00 spans three shards in one all-or-nothing take;
    the minute then holds at most 40.00 more (some of it may be too spread out to use)."""
    sharded = Velocity(amount_per_minute={"BRL": Decimal("100.00")}, shards=4)
    who = merchant()
    big = window(sharded, who, "60.00")
    assert len(big.tries[0].parts) == 3
    assert await ports.velocity.take(big) is True  # the merchant's first this minute
    assert await ports.velocity.take(big) is True  # a retry: no second take
    rest = [window(sharded, who, "10.00") for _ in range(6)]
    assert 1 <= [await ports.velocity.take(w) for w in rest].count(True) <= 4  # <= 40.00


async def test_sharded_a_count_limit_is_exact(ports: Ports) -> None:
    """2 payments a minute over 4 shards: two shards allow one each, two none; a payment
    whose shard is full (or allows none) tries the others."""
    sharded, who = Velocity(payments_per_minute=2, shards=4), merchant()
    takes = await asyncio.gather(*(ports.velocity.take(window(sharded, who)) for _ in range(8)))
    assert takes.count(True) == 2
