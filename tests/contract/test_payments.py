"""PaymentRepository: conditional writes and the status index's reads."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from paysys.core.domain import NewPayment, Payment, PaymentStatus
from paysys.errors import PaymentNotFound

from .conftest import Ports

T0 = datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)


def payment(minutes: int = 0, amount: str = "12.50", description: str = "tea") -> Payment:
    new = NewPayment(amount=Decimal(amount), currency="BRL", description=description)
    return Payment.create(new, T0 + timedelta(minutes=minutes), correlation_id=f"c-{minutes}")


async def test_add_then_get_round_trips_every_field(ports: Ports) -> None:
    stored = payment(description="")
    assert await ports.payments.add(stored) is True
    assert await ports.payments.get(stored.id) == stored


async def test_add_never_overwrites_an_existing_id(ports: Ports) -> None:
    first = payment(amount="1.00")
    assert await ports.payments.add(first) is True
    other = Payment.create(
        NewPayment(Decimal("2.00"), "USD", "other"), T0, correlation_id="x", payment_id=first.id
    )
    assert await ports.payments.add(other) is False
    assert await ports.payments.get(first.id) == first


async def test_get_of_an_unknown_id_is_payment_not_found(ports: Ports) -> None:
    with pytest.raises(PaymentNotFound):
        await ports.payments.get(str(uuid.uuid4()))


async def test_approve_is_a_conditional_pending_to_approved(ports: Ports) -> None:
    stored = payment()
    await ports.payments.add(stored)
    when = T0 + timedelta(seconds=3)
    assert await ports.payments.approve(stored.id, when) is True
    approved = await ports.payments.get(stored.id)
    assert approved.status is PaymentStatus.APPROVED
    assert (approved.approved_at, approved.updated_at) == (when, when)
    assert approved.created_at == stored.created_at

    # A duplicate delivery: no second approval, the first one's time is kept.
    assert await ports.payments.approve(stored.id, when + timedelta(seconds=5)) is False
    assert await ports.payments.get(stored.id) == approved


async def test_approve_of_an_unknown_id_is_payment_not_found(ports: Ports) -> None:
    with pytest.raises(PaymentNotFound):
        await ports.payments.approve(str(uuid.uuid4()), T0)


async def test_recent_is_newest_first_per_status_and_count_matches(ports: Ports) -> None:
    made = [payment(minutes=m) for m in (3, 1, 4, 2, 5)]
    for p in made:
        await ports.payments.add(p)
    await ports.payments.approve(made[0].id, T0)  # minute 3

    pending = await ports.payments.recent(PaymentStatus.PENDING, 3)
    assert [p.created_at.minute for p in pending] == [5, 4, 2]
    assert [p.id for p in await ports.payments.recent(PaymentStatus.APPROVED, 10)] == [made[0].id]
    assert await ports.payments.count(PaymentStatus.PENDING) == 4
    assert await ports.payments.count(PaymentStatus.APPROVED) == 1


async def test_pending_before_is_oldest_first_and_skips_approved_and_recent(ports: Ports) -> None:
    made = [payment(minutes=m) for m in (4, 0, 2, 1, 9)]
    for p in made:
        await ports.payments.add(p)
    await ports.payments.approve(made[3].id, T0)  # minute 1

    cutoff = T0 + timedelta(minutes=5)
    stale = await ports.payments.pending_before(cutoff, 10)
    assert [p.created_at.minute for p in stale] == [0, 2, 4]
    assert [p.id for p in await ports.payments.pending_before(cutoff, 2)] == [
        made[1].id,
        made[2].id,
    ]
    assert await ports.payments.pending_before(T0, 10) == []  # strictly before


async def test_ping_answers(ports: Ports) -> None:
    await ports.payments.ping()
