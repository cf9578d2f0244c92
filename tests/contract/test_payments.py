"""PaymentRepository: conditional writes, the pending index, listing pages and counts."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from paysys.core import partition_keys
from paysys.core.domain import NewPayment, Payment, PaymentCreated, PaymentStatus
from paysys.core.outcomes import PaymentOutcome
from paysys.core.ports import Due, ListPosition
from paysys.errors import PaymentNotFound

from .conftest import Ports

APPROVED = PaymentStatus.APPROVED
DECLINED = PaymentStatus.DECLINED
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


async def test_concurrent_transitions_of_one_payment_have_one_winner(ports: Ports) -> None:
    """Redeliveries racing on several loops or workers: one write moves the payment, every
    other finds it final (DynamoDB evaluates the condition and writes atomically; the test
    emulator lets one DynamoDB request in at a time for that, see ``paysys.local.moto_atomic``)."""
    stored = payment()
    await ports.payments.add(stored)
    moves = [APPROVED, PaymentStatus.DECLINED] * 8
    when = T0 + timedelta(seconds=3)
    won = await asyncio.gather(
        *(
            ports.payments.transition(
                stored.id, to, when, "velocity_limit" if to is PaymentStatus.DECLINED else None
            )
            for to in moves
        )
    )
    winners = [moved for moved in won if moved is not None]
    assert len(winners) == 1
    final = await ports.payments.get(stored.id)
    assert final.status is winners[0].status


async def test_a_retry_with_its_token_recognises_its_own_move_counted_once(ports: Ports) -> None:
    """A transition whose reply was lost is tried again with the same token: the retry
    finds its own write (even where it would now decide otherwise) and it counts once;
    another token finds the payment final and moves nothing."""
    stored = payment()
    await ports.payments.add(stored)
    first = await ports.payments.transition(stored.id, APPROVED, T0, token="t-1")
    assert first is not None
    again = await ports.payments.transition(
        stored.id, PaymentStatus.DECLINED, T0, "velocity_limit", token="t-1"
    )
    assert again is not None
    assert again.status is APPROVED  # what is stored, not what the retry would have written
    assert await ports.payments.transition(stored.id, APPROVED, T0, token="t-2") is None
    assert await ports.payments.transition(stored.id, APPROVED, T0) is None
    await ports.settle_counts()
    counts = (await ports.payments.counts(stored.merchant_id)).by_status
    assert (counts[PaymentStatus.PENDING], counts[APPROVED]) == (0, 1)


async def test_approve_is_a_conditional_pending_to_approved(ports: Ports) -> None:
    stored = payment()
    await ports.payments.add(stored)
    when = T0 + timedelta(seconds=3)
    assert await ports.payments.transition(stored.id, APPROVED, when) is not None
    approved = await ports.payments.get(stored.id)
    assert approved.status is APPROVED
    assert (approved.approved_at, approved.updated_at) == (when, when)
    assert approved.created_at == stored.created_at
    assert approved.decline_reason is None

    # A duplicate delivery: no second approval, the first one's time is kept.
    assert await ports.payments.transition(stored.id, APPROVED, when + timedelta(seconds=5)) is None
    assert await ports.payments.get(stored.id) == approved


@pytest.mark.parametrize(
    ("to", "reason"),
    [(APPROVED, None), (PaymentStatus.DECLINED, "velocity_limit"), (PaymentStatus.CANCELED, None)],
)
async def test_every_transition_leaves_pending_once_and_a_final_state_never_changes(
    ports: Ports, to: PaymentStatus, reason: str | None
) -> None:
    merchant = f"m-{uuid.uuid4().hex[:8]}"
    stored = of(merchant, 0)
    await ports.payments.add(stored)
    when = T0 + timedelta(seconds=1)
    assert await ports.payments.transition(stored.id, to, when, reason) is not None
    final = await ports.payments.get(stored.id)
    assert final == stored.moved_to(to, when, reason)
    assert final.to_json()["decline_reason"] == reason
    for other, why in [
        (APPROVED, None),
        (PaymentStatus.DECLINED, "x"),
        (PaymentStatus.CANCELED, None),
    ]:
        assert await ports.payments.transition(stored.id, other, when, why) is None
    assert await ports.payments.get(stored.id) == final
    await ports.settle_counts()
    counts = (await ports.payments.counts(merchant)).by_status
    assert counts == {s: int(s is to) for s in PaymentStatus}
    window = timedelta(seconds=ports.settings.reconcile_after_seconds)
    assert stored.id not in {d.payment_id for d in await all_due(ports, when + window * 2)}


async def test_a_transition_of_an_unknown_id_is_payment_not_found(ports: Ports) -> None:
    with pytest.raises(PaymentNotFound):
        await ports.payments.transition(str(uuid.uuid4()), APPROVED, T0)


async def test_a_transition_outside_the_state_machine_is_refused(ports: Ports) -> None:
    stored = payment()
    await ports.payments.add(stored)
    for to, reason in [
        (PaymentStatus.PENDING, None),
        (APPROVED, "why"),
        (PaymentStatus.DECLINED, None),
    ]:
        with pytest.raises(ValueError, match=r"transition|decline_reason"):
            await ports.payments.transition(stored.id, to, T0, reason)
    assert await ports.payments.get(stored.id) == stored


async def all_due(ports: Ports, now: datetime) -> list[Due]:
    shards = ports.settings.pending_shards
    return [d for n in range(shards) for d in await ports.payments.due(n, now, 100)]


async def test_due_lists_pending_payments_past_their_window_once_claimed(ports: Ports) -> None:
    made = [payment(minutes=m) for m in (0, 1, 2)]
    for p in made:
        await ports.payments.add(p)
    await ports.payments.transition(made[1].id, APPROVED, T0)
    window = timedelta(seconds=ports.settings.reconcile_after_seconds)

    assert await all_due(ports, T0 + window) == []  # none is past its window yet
    due = await all_due(ports, T0 + window + timedelta(minutes=5))
    assert sorted(d.payment_id for d in due) == sorted([made[0].id, made[2].id])
    assert {d.created_at for d in due} == {made[0].created_at, made[2].created_at}

    later = T0 + timedelta(hours=1)
    claimed = await ports.payments.claim(due[0], later)
    assert claimed is not None
    assert claimed.id == due[0].payment_id
    # another worker's claim (its own next due time) finds it moved; a retry of this very
    # claim (same next due time, its reply lost) recognises its own success
    assert await ports.payments.claim(due[0], later + timedelta(seconds=1)) is None
    assert await ports.payments.claim(due[0], later) is not None
    remaining = await all_due(ports, T0 + window + timedelta(minutes=5))
    assert [d.payment_id for d in remaining] == [due[1].payment_id]


async def test_an_approved_payment_cannot_be_claimed(ports: Ports) -> None:
    p = payment()
    await ports.payments.add(p)
    window = timedelta(seconds=ports.settings.reconcile_after_seconds)
    [due] = await all_due(ports, T0 + window + timedelta(seconds=1))
    await ports.payments.transition(p.id, APPROVED, T0)
    assert await ports.payments.claim(due, T0 + timedelta(hours=1)) is None


def of(merchant: str, days: int, n: int = 0) -> Payment:
    new = NewPayment(amount=Decimal("5.00"), currency="BRL", description=f"{days}/{n}")
    when = T0 - timedelta(days=days, seconds=n)
    return Payment.create(new, when, correlation_id="c", merchant_id=merchant)


async def test_pages_are_newest_first_per_merchant_and_chain_to_the_end(ports: Ports) -> None:
    merchant = f"m-{uuid.uuid4().hex[:8]}"
    made = [of(merchant, days, n) for days in (0, 3, 40, 75) for n in range(2)]
    for p in made:
        await ports.payments.add(p)
    await ports.payments.add(of(f"other-{merchant}", 0))
    await ports.settle_counts()
    counts = await ports.payments.counts(merchant)
    assert counts.first_month is not None

    seen: list[str] = []
    position: ListPosition | None = ListPosition(partition_keys.month_of(T0))
    while position is not None:
        page = await ports.payments.page(merchant, position, 3, counts.first_month)
        assert len(page.payments) <= 3
        seen += [p.id for p in page.payments]
        position = page.next
    newest_first = sorted(made, key=lambda p: p.created_at, reverse=True)
    assert seen == [p.id for p in newest_first]


async def test_a_page_filters_by_status(ports: Ports) -> None:
    merchant = f"m-{uuid.uuid4().hex[:8]}"
    made = [of(merchant, 0, n) for n in range(6)]
    for p in made:
        await ports.payments.add(p)
    for p in made[::2]:
        await ports.payments.transition(p.id, APPROVED, T0)
    page = await ports.payments.page(
        merchant,
        ListPosition(partition_keys.month_of(T0)),
        10,
        partition_keys.month_of(T0),
        PaymentStatus.APPROVED,
    )
    assert [p.id for p in page.payments] == [p.id for p in made[::2]]
    assert all(p.status is PaymentStatus.APPROVED for p in page.payments)


async def test_counts_follow_the_transitions_per_merchant(ports: Ports) -> None:
    merchant = f"m-{uuid.uuid4().hex[:8]}"
    made = [of(merchant, days) for days in (0, 40)]
    for p in made:
        await ports.payments.add(p)
    await ports.payments.transition(made[0].id, APPROVED, T0)
    await ports.payments.transition(made[0].id, APPROVED, T0)  # a duplicate delivery counts nothing
    await ports.settle_counts()
    counts = await ports.payments.counts(merchant)
    assert counts.by_status == {
        s: int(s in (PaymentStatus.PENDING, APPROVED)) for s in PaymentStatus
    }
    assert counts.first_month == partition_keys.month_of(made[1].created_at)
    empty = await ports.payments.counts(f"nobody-{merchant}")
    assert empty.by_status == dict.fromkeys(PaymentStatus, 0)
    assert empty.first_month is None


async def test_ping_answers(ports: Ports) -> None:
    await ports.payments.ping()


async def all_outbox(ports: Ports, now: datetime) -> list[Due]:
    shards = ports.settings.pending_shards
    return [d for n in range(shards) for d in await ports.payments.outbox(n, now, 100)]


async def test_a_transition_enters_the_outbox_until_cleared(ports: Ports) -> None:
    made = [payment(minutes=m) for m in (0, 1)]
    for p in made:
        await ports.payments.add(p)
        await ports.payments.transition(p.id, PaymentStatus.CANCELED, T0)
    window = timedelta(seconds=ports.settings.reconcile_after_seconds)
    assert await all_outbox(ports, T0) == []  # not due before the window
    later = T0 + window + timedelta(seconds=1)
    due = await all_outbox(ports, later)
    assert sorted(d.payment_id for d in due) == sorted(p.id for p in made)

    claimed = await ports.payments.claim_outbox(due[0], later + window)
    assert claimed is not None
    assert claimed.status is PaymentStatus.CANCELED
    other_worker = later + window + timedelta(seconds=1)
    assert await ports.payments.claim_outbox(due[0], other_worker) is None  # moved already
    assert await ports.payments.claim_outbox(due[0], later + window) is not None  # own retry
    await ports.payments.clear_outbox(due[1].payment_id)
    assert await all_outbox(ports, later) == []
    assert [d.payment_id for d in await all_outbox(ports, later + 2 * window)] == [
        due[0].payment_id
    ]
    with pytest.raises(PaymentNotFound):
        await ports.payments.clear_outbox(str(uuid.uuid4()))


async def test_a_decision_enters_the_outbox_only_when_marked(ports: Ports) -> None:
    """A worker's decision writes no outbox mark: its message is the reminder;
    ``mark_outbox`` puts it there when the outcome could not be published."""
    made = [payment(minutes=m) for m in (0, 1)]
    for p in made:
        await ports.payments.add(p)
        await ports.payments.decide(PaymentCreated.of(p), APPROVED, T0, token=f"t-{p.id}")
    later = T0 + timedelta(seconds=ports.settings.reconcile_after_seconds + 1)
    assert await all_outbox(ports, later) == []
    await ports.payments.mark_outbox(made[1].id, T0)
    await ports.payments.mark_outbox(made[1].id, T0)  # again: the same one mark
    assert [d.payment_id for d in await all_outbox(ports, later)] == [made[1].id]
    with pytest.raises(PaymentNotFound):
        await ports.payments.mark_outbox(str(uuid.uuid4()), T0)


@pytest.mark.parametrize(("to", "reason"), [(APPROVED, None), (DECLINED, "velocity_limit")])
async def test_a_decision_answers_the_outcome_of_what_it_wrote_and_counts_once(
    ports: Ports, to: PaymentStatus, reason: str | None
) -> None:
    """The outcome of a worker's decision is what reading the moved payment would give
    (built from its event and the written values); a duplicate moves and counts nothing."""
    merchant = f"m-{uuid.uuid4().hex[:8]}"
    stored = of(merchant, 0)
    await ports.payments.add(stored)
    when, mine, other = T0 + timedelta(seconds=2), f"t-{stored.id}", f"u-{stored.id}"
    created = PaymentCreated.from_message(PaymentCreated.of(stored).to_message())  # as received
    outcome = await ports.payments.decide(created, to, when, reason, token=mine)
    moved = stored.moved_to(to, when, reason)
    assert outcome == PaymentOutcome.of(moved)
    assert outcome.to_message() == PaymentOutcome.of(moved).to_message()
    assert await ports.payments.get(stored.id) == moved
    assert await ports.payments.decide(created, APPROVED, when, token=other) is None
    assert await ports.payments.decide(created, DECLINED, when, "x") is None
    assert await ports.payments.get(stored.id) == moved
    await ports.settle_counts()
    counts = (await ports.payments.counts(merchant)).by_status
    assert counts == {s: int(s is to) for s in PaymentStatus}


async def test_a_decision_whose_reply_was_lost_is_recognised_by_its_token(ports: Ports) -> None:
    """The write committed, its reply was lost (nobody counted it): the retry with the same
    token answers the stored outcome (even where it would now decide otherwise) and counts
    it, once; another token, or none, finds it final and moves nothing."""
    merchant = f"m-{uuid.uuid4().hex[:8]}"
    stored = of(merchant, 0)
    await ports.payments.add(stored)
    created, when = PaymentCreated.of(stored), T0 + timedelta(seconds=2)
    mine, other = f"t-{stored.id}", f"u-{stored.id}"
    await ports.decide_unanswered(created, DECLINED, when, "velocity_limit", mine)
    retry = await ports.payments.decide(created, APPROVED, when + timedelta(seconds=1), token=mine)
    assert retry == PaymentOutcome.of(stored.moved_to(DECLINED, when, "velocity_limit"))
    again = await ports.payments.decide(created, APPROVED, when, token=mine)  # and once more
    assert again == retry
    assert await ports.payments.decide(created, APPROVED, when, token=other) is None
    assert await ports.payments.decide(created, APPROVED, when) is None
    await ports.settle_counts()
    counts = (await ports.payments.counts(merchant)).by_status
    assert counts == {s: int(s is DECLINED) for s in PaymentStatus}


async def test_a_decision_of_an_unknown_id_is_payment_not_found(ports: Ports) -> None:
    created = PaymentCreated.of(payment())  # never stored
    with pytest.raises(PaymentNotFound):
        await ports.payments.decide(created, APPROVED, T0, token=f"t-{created.payment_id}")
    with pytest.raises(PaymentNotFound):
        await ports.payments.get(created.payment_id)  # and the decision created no item
