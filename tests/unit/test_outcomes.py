"""Outcome events on the fakes: one per transition (approve, decline, cancel), each valid
against its JSON Schema; an outcomes outage leaves them in the outbox and the reconciler
publishes them later: duplicates allowed, none missing."""

from __future__ import annotations

import importlib.resources
import json
from collections import Counter
from datetime import timedelta
from decimal import Decimal
from typing import Any

import jsonschema
import pytest

from paysys.core.domain import NewPayment, Payment, PaymentCreated, PaymentStatus
from paysys.core.outcomes import PaymentOutcome
from paysys.core.rules import load_rules
from paysys.core.service import Decision
from paysys.errors import BackendUnavailable
from paysys.worker.reconciler import Reconciler, ReconcilerOptions

from ..fakes import START, FakeSystem, Outage

SCHEMA = json.loads(
    (importlib.resources.files("paysys.core") / "schemas/payment_outcome.v1.json").read_text()
)
RULES = load_rules('{"currencies": ["BRL"]}')
AFTER = 60.0


def validate(body: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads(body)
    jsonschema.validate(event, SCHEMA, format_checker=jsonschema.FormatChecker())
    return event


async def received(fakes: FakeSystem) -> list[Any]:
    messages = []
    while batch := await fakes.outcomes_queue.receive(10, 0):
        messages += batch
        await fakes.outcomes_queue.delete(batch)
    return messages


async def make_three(fakes: FakeSystem, **ports: Any) -> tuple[str, str, str]:
    """One payment approved, one declined, one canceled."""
    service = fakes.service(rules=RULES, **ports)
    ids = []
    for currency in ("BRL", "EUR", "BRL"):
        accepted = await service.create(NewPayment(Decimal("5.00"), currency, ""), f"c-{currency}")
        ids.append(accepted.payment_id)
    for payment_id in ids[:2]:
        event = PaymentCreated.of(await service.get(payment_id))
        assert await service.decide(event, "corr-w") in {Decision.APPROVED, Decision.DECLINED}
    await service.cancel(ids[2])
    return ids[0], ids[1], ids[2]


async def test_each_transition_publishes_one_valid_versioned_outcome(fakes: FakeSystem) -> None:
    approved, declined, canceled = await make_three(fakes)
    messages = await received(fakes)
    events = {e["payment_id"]: e for e in (validate(m.body) for m in messages)}
    assert len(messages) == 3
    assert {k: v["type"] for k, v in events.items()} == {
        approved: "PaymentApproved",
        declined: "PaymentDeclined",
        canceled: "PaymentCanceled",
    }
    assert events[declined]["decline_reason"] == "currency_not_allowed"
    assert all(e["version"] == 1 for e in events.values())
    for message in messages:
        attributes = message.attributes
        assert attributes["event_type"] == json.loads(message.body)["type"]
        assert attributes["merchant_id"] == "default"
        assert attributes["correlation_id"]
    # published (and the cancel's mark cleared): nothing is left in the outbox
    assert await in_outbox(fakes) == []


async def in_outbox(fakes: FakeSystem) -> list[str]:
    """Ids in the outbox, due or not (every shard, read after the reconcile window)."""
    later = fakes.clock.now() + timedelta(seconds=10 * AFTER)
    return [d.payment_id for n in range(32) for d in await fakes.payments.outbox(n, later, 100)]


async def test_a_decision_published_leaves_no_outbox_mark_and_one_that_is_not_does(
    fakes: FakeSystem,
) -> None:
    down = Outage(fakes.outcomes)
    service = fakes.service(rules=RULES, outcomes=down)
    accepted = await service.create(NewPayment(Decimal("5.00"), "BRL", ""), "c")
    event = PaymentCreated.of(await service.get(accepted.payment_id))
    # The publish fails: the SQS message may go, the outbox holds the outcome now.
    assert await service.decide(event, "c", token="r1") is Decision.APPROVED
    assert await in_outbox(fakes) == [accepted.payment_id]
    assert await received(fakes) == []


async def test_a_decision_whose_outcome_has_no_reminder_keeps_its_message(
    fakes: FakeSystem,
) -> None:
    """Publish and outbox mark both fail: the decision raises, so the worker keeps the
    message; its redelivery (a duplicate by then) publishes the stored decision."""
    down = Outage(fakes.outcomes)
    payments = Outage(fakes.payments, "mark_outbox")
    service = fakes.service(rules=RULES, outcomes=down, payments=payments)
    accepted = await service.create(NewPayment(Decimal("5.00"), "BRL", ""), "c")
    event = PaymentCreated.of(await service.get(accepted.payment_id))
    with pytest.raises(BackendUnavailable):
        await service.decide(event, "c", token="r1")
    assert (await service.get(accepted.payment_id)).status is PaymentStatus.APPROVED
    assert await received(fakes) == []
    down.down = payments.down = False
    assert await service.decide(event, "c", token="r2") is Decision.DUPLICATE
    events = [validate(m.body) for m in await received(fakes)]
    assert [(e["payment_id"], e["type"]) for e in events] == [
        (accepted.payment_id, "PaymentApproved")
    ]
    assert await in_outbox(fakes) == []


async def test_a_duplicate_of_a_canceled_payment_leaves_its_outcome_to_the_outbox(
    fakes: FakeSystem,
) -> None:
    service = fakes.service(rules=RULES)
    accepted = await service.create(NewPayment(Decimal("5.00"), "BRL", ""), "c")
    event = PaymentCreated.of(await service.get(accepted.payment_id))
    await service.cancel(accepted.payment_id)
    await service.settle()
    assert [validate(m.body)["type"] for m in await received(fakes)] == ["PaymentCanceled"]
    assert await service.decide(event, "c", token="late") is Decision.DUPLICATE
    assert await received(fakes) == []


async def test_an_outcomes_outage_defers_the_events_to_the_reconciler(
    fakes: FakeSystem, logs
) -> None:
    down = Outage(fakes.outcomes)
    ids = await make_three(fakes, outcomes=down)
    assert await received(fakes) == []
    assert len(logs.events("outcome.publish_deferred")) == 3
    opts = ReconcilerOptions(after_seconds=AFTER, batch_size=2, shards=32)
    reconcile = Reconciler(
        fakes.payments, fakes.leases, fakes.topic, opts,
        owner="w1", clock=fakes.clock.now, outcomes=down,
    )  # fmt: skip
    fakes.clock.advance(AFTER + 1)
    await reconcile.pass_once()  # still down: claimed, not published, left in the outbox
    assert await received(fakes) == []
    fakes.clock.advance(2 * AFTER + 1)
    down.down = False
    await reconcile.pass_once()
    fakes.clock.advance(10 * AFTER)
    await reconcile.pass_once()  # nothing left: no more events
    messages = await received(fakes)
    counts = Counter(validate(m.body)["payment_id"] for m in messages)
    assert counts == Counter(ids)  # exactly one each, none missing
    assert reconcile.stats.outcomes_published == 3


def test_a_decisions_outcome_from_its_event_is_the_moved_payments() -> None:
    """``PaymentOutcome.decided`` (the event and the values written) says what the moved
    payment's own outcome says, and refuses a move the state machine does not have."""
    payment = Payment.create(
        NewPayment(Decimal("1234.5"), "BRL", "x"), START, correlation_id="c", merchant_id="m-1"
    )
    created = PaymentCreated.from_message(PaymentCreated.of(payment).to_message())
    when = START + timedelta(seconds=3)
    for to, reason in [(PaymentStatus.APPROVED, None), (PaymentStatus.DECLINED, "max_amount")]:
        outcome = PaymentOutcome.decided(created, to, when, reason)
        assert (
            outcome.to_message()
            == PaymentOutcome.of(payment.moved_to(to, when, reason)).to_message()
        )
    for to, reason in [(PaymentStatus.PENDING, None), (PaymentStatus.DECLINED, None)]:
        with pytest.raises(ValueError, match=r"transition|decline_reason"):
            PaymentOutcome.decided(created, to, when, reason)
