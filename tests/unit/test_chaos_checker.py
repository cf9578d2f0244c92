"""The chaos campaign's checker on hand-made histories: a clean history is clean, and each
property's violation is found (tools/paysys_tools/chaos/checker.py, velocity.py)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from paysys.core.partition_keys import shard_of
from paysys.core.velocity import Velocity
from paysys_tools.chaos.checker import check
from paysys_tools.chaos.history import (
    NO_ANSWER,
    Answer,
    History,
    Injected,
    Outcome,
    Stored,
    VelocityCounter,
)

T0 = datetime(2030, 1, 1, 12, 0, 10, tzinfo=UTC)
MINUTE = "2030-01-01T12:00"
TYPES = {
    "Approved": "PaymentApproved",
    "Declined": "PaymentDeclined",
    "Canceled": "PaymentCanceled",
}


def pid(n: int) -> str:
    return str(uuid.UUID(int=n))


def stored(n: int, status: str = "Approved", **overrides: Any) -> Stored:
    fields: dict[str, Any] = {
        "id": pid(n),
        "merchant_id": "m0",
        "amount": Decimal("10.00"),
        "currency": "BRL",
        "description": f"s1 i{n}",
        "status": status,
        "created_at": T0,
        "updated_at": T0 + timedelta(seconds=1),
    }
    fields.update(overrides)
    return Stored(**fields)


def create(
    n: int, status: int = 202, *, key: str | None = "k", attempt: int = 1, **kw: Any
) -> Answer:
    description = f"s1 i{n}" if key else f"s1 i{n} a{attempt}"
    body = kw.pop("body", {"id": pid(n), "status": "Pending"} if status == 202 else {})
    return Answer(
        client=f"s1-i{n}a", intent=f"s1-i{n}", attempt=attempt, op="create", merchant="m0",
        status=status, body=body, idempotency_key=f"{key}{n}" if key else None,
        description=description, payment_id=pid(n) if status == 202 else None,
        retry_after="1" if status == 503 else None, **kw,
    )  # fmt: skip


def follow(n: int, op: str, status: int, said: str | None, **kw: Any) -> Answer:
    body: dict[str, Any] = {"status": said} if status in (200, 202) else {}
    if status == 409:
        body = {"error": {"code": "payment_final", "status": said}}
    return Answer(
        client=f"s1-i{n}a", intent=f"s1-i{n}", attempt=1, op=op,  # type: ignore[arg-type]
        merchant="m0", status=status, body=body, payment_id=pid(n),
        retry_after="1" if status == 503 else None, **kw,
    )  # fmt: skip


def clean() -> History:
    """Three payments: approved, declined (denied merchant), canceled; all answers true."""
    payments = [
        stored(1),
        stored(2, "Declined", merchant_id="mx", decline_reason="merchant_denied"),
        stored(3, "Canceled"),
    ]
    history = History(
        seed=1,
        answers=[create(1), create(2), create(3), follow(3, "cancel", 202, "Canceled")],
        payments=payments,
        outcomes=[Outcome(p.id, TYPES[p.status], p.status, p.decline_reason) for p in payments],
        counters=[VelocityCounter("m0", MINUTE, 0, 1, {"BRL": Decimal("10.00")})],
        stats={"m0": {"Pending": 0, "Approved": 1, "Declined": 0, "Canceled": 1}},
        velocity=Velocity(2, {"BRL": Decimal("100.00")}, 1),
        deny_merchants=frozenset({"mx"}),
    )
    history.answers[1] = Answer(**{**_fields(history.answers[1]), "merchant": "mx"})
    return history


def _fields(answer: Answer) -> dict[str, Any]:
    return {name: getattr(answer, name) for name in answer.__slots__}


def properties(history: History) -> list[str]:
    return sorted(v.property for v in check(history))


def test_a_clean_history_is_clean() -> None:
    assert check(clean()) == []


def test_a_5xx_other_than_503_and_a_503_without_retry_after() -> None:
    history = clean()
    history.answers += [
        follow(1, "get", 500, None),
        Answer(**{**_fields(follow(1, "get", 503, None)), "retry_after": None}),
    ]
    assert properties(history) == ["status_5xx", "status_5xx"]


def test_a_202_whose_payment_is_not_stored() -> None:
    history = clean()
    history.answers.append(create(9))
    assert properties(history) == ["accepted_stored"]


def test_a_503_without_a_key_hiding_the_attempts_payment() -> None:
    history = clean()
    history.answers.append(create(4, 503, key=None, attempt=1))
    history.payments.append(stored(4, description="s1 i4 a1"))
    history.outcomes.append(Outcome(pid(4), "PaymentApproved", "Approved"))
    history.stats["m0"] = {**history.stats["m0"], "Approved": 2}
    history.counters = [VelocityCounter("m0", MINUTE, 0, 2, {"BRL": Decimal("20.00")})]
    assert properties(history) == ["unavailable_hid_payment"]


def test_a_keyed_503_is_fine_when_a_retry_got_the_payment_and_not_otherwise() -> None:
    history = clean()
    history.answers = [create(1, 503), *history.answers]
    assert check(history) == []
    history.answers = [a for a in history.answers if a.intent != "s1-i1" or a.status != 202]
    assert properties(history) == ["unavailable_hid_payment"]


def test_one_key_two_payments() -> None:
    history = clean()
    twin = stored(5, description="s1 i1")
    history.payments.append(twin)
    history.outcomes.append(Outcome(twin.id, "PaymentApproved", "Approved"))
    history.stats["m0"] = {**history.stats["m0"], "Approved": 2}
    history.counters = [VelocityCounter("m0", MINUTE, 0, 2, {"BRL": Decimal("20.00")})]
    assert properties(history) == ["one_payment_per_key"]


def test_a_409_in_progress_with_nothing_running() -> None:
    history = clean()
    conflict = {"error": {"code": "idempotency_conflict"}}
    alone = create(1, 409, body=conflict, sent=1.0, received=1.1)
    history.answers.insert(0, alone)
    assert properties(history) == ["conflict_true"]
    # while a twin's request with the same key runs, it is true
    history.answers.insert(0, Answer(**{**_fields(create(1)), "sent": 0.9, "received": 1.5}))
    assert check(history) == []


def test_a_payment_left_pending() -> None:
    history = clean()
    history.payments.append(stored(6, "Pending"))
    history.answers.append(create(6))
    history.stats["m0"] = {**history.stats["m0"], "Pending": 1}
    assert properties(history) == ["final_state"]


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (follow(1, "cancel", 202, "Canceled"), "answers_agree"),  # 202, but Approved
        (follow(1, "cancel", 409, "Declined"), "answers_agree"),  # states the wrong status
        (follow(1, "get", 200, "Declined"), "answers_agree"),
        (follow(1, "get", 404, None), "answers_agree"),
    ],
)
def test_an_answer_that_contradicts_the_final_state(answer: Answer, expected: str) -> None:
    history = clean()
    history.answers.append(answer)
    assert properties(history) == [expected]


def test_a_cancel_that_committed_but_answered_409_or_503() -> None:
    history = clean()
    history.answers[3] = follow(3, "cancel", 503, None)
    history.answers.append(follow(3, "cancel", 409, "Canceled"))
    assert properties(history) == ["cancel_answered"]
    # a cancel that never got an answer may be the one that committed
    history.answers[3] = follow(3, "cancel", NO_ANSWER, None, error="ServerDisconnectedError()")
    assert check(history) == []


def test_outcome_events_missing_or_contradicting() -> None:
    history = clean()
    history.outcomes = [*history.outcomes[1:], Outcome(pid(3), "PaymentApproved", "Approved")]
    assert properties(history) == ["outcome_event", "outcome_event"]


def test_stats_that_differ_from_the_table() -> None:
    history = clean()
    history.stats["m0"] = {"Pending": 1, "Approved": 1, "Declined": 0, "Canceled": 1}
    assert properties(history) == ["stats_match"]


def test_a_sigkilled_workers_uncounted_transition_is_the_documented_bound() -> None:
    """Pending over by one and a final state under by one, after a SIGKILL: the killed
    worker's unflushed counts (bounded, reported apart); anything else is a violation."""
    history = clean()
    history.killed = 1
    history.stats["m0"] = {"Pending": 1, "Approved": 0, "Declined": 0, "Canceled": 1}
    assert properties(history) == ["stats_lost_by_sigkill"]
    history.stats["m0"] = {"Pending": 0, "Approved": 2, "Declined": 0, "Canceled": 1}
    assert properties(history) == ["stats_match"]  # counted twice: no kill explains that
    history.killed = 0
    history.stats["m0"] = {"Pending": 1, "Approved": 0, "Declined": 0, "Canceled": 1}
    assert properties(history) == ["stats_match"]  # no kill: no excuse


def test_a_denied_merchant_approved() -> None:
    history = clean()
    history.payments[1] = stored(2, merchant_id="mx", description="s1 i2")
    history.outcomes[1] = Outcome(pid(2), "PaymentApproved", "Approved")
    history.counters = []
    assert "rules_applied" in properties(history)


def test_approved_past_the_velocity_limit() -> None:
    history = clean()
    for n in (7, 8):
        history.payments.append(stored(n))
        history.outcomes.append(Outcome(pid(n), "PaymentApproved", "Approved"))
    history.stats["m0"] = {**history.stats["m0"], "Approved": 3}
    history.counters = [VelocityCounter("m0", MINUTE, 0, 3, {"BRL": Decimal("30.00")})]
    assert properties(history) == ["velocity_limit"]


def test_declined_velocity_limit_while_the_window_had_room() -> None:
    history = clean()
    history.velocity = Velocity(3, {"BRL": Decimal("100.00")}, 1)
    declined = stored(9, "Declined", decline_reason="velocity_limit")
    history.payments.append(declined)
    history.outcomes.append(Outcome(declined.id, "PaymentDeclined", "Declined", "velocity_limit"))
    history.stats["m0"] = {**history.stats["m0"], "Declined": 1}
    assert properties(history) == ["velocity_decline"]
    # the window full: one approved, one canceled that took before the cancel won
    history.velocity = Velocity(2, {"BRL": Decimal("100.00")}, 1)
    assert properties(history) == ["velocity_decline"]  # the counter says it had room
    history.counters = [VelocityCounter("m0", MINUTE, 0, 2, {"BRL": Decimal("20.00")})]
    assert check(history) == []


def test_a_velocity_take_repeated() -> None:
    history = clean()
    history.counters = [VelocityCounter("m0", MINUTE, 0, 3, {"BRL": Decimal("30.00")})]
    violations = check(history)
    assert [v.property for v in violations] == ["velocity_take_once"]
    assert violations[0].key == f"#velocity#m0#{MINUTE}#0"


def test_with_shards_a_first_payment_above_the_share_is_a_violation() -> None:
    history = clean()
    history.velocity = Velocity(None, {"BRL": Decimal("100.00")}, 2)
    history.payments = [
        stored(10, "Declined", amount=Decimal("60.00"), decline_reason="velocity_limit")
    ]
    history.answers, history.counters, history.stats = [create(10)], [], {}
    history.outcomes = [Outcome(pid(10), "PaymentDeclined", "Declined", "velocity_limit")]
    assert shard_of(pid(10), 2) in (0, 1)
    assert properties(history) == ["velocity_decline"]


def test_violations_name_the_faults_that_touched_them() -> None:
    history = clean()
    history.counters = [VelocityCounter("m0", MINUTE, 0, 3, {"BRL": Decimal("30.00")})]
    key = f"#velocity#m0#{MINUTE}#0"
    history.injected = [
        Injected("dynamodb:UpdateItem", "reset", frozenset({key})),
        Injected("dynamodb:PutItem", "error", frozenset({pid(1)})),
    ]
    (violation,) = check(history)
    assert violation.faults == ("dynamodb:UpdateItem reset",)
    assert violation.to_json()["faults"] == ["dynamodb:UpdateItem reset"]


def test_with_shards_a_decline_while_its_tries_had_room_is_a_violation() -> None:
    """4 shards of 4 payments a minute: a payment declined while the counters show a shard
    its tries reach with room; declined when all four are full is no violation."""
    history = clean()
    history.velocity = Velocity(4, {}, 4)
    declined = stored(11, "Declined", decline_reason="velocity_limit")
    history.payments.append(declined)
    history.outcomes.append(Outcome(declined.id, "PaymentDeclined", "Declined", "velocity_limit"))
    history.stats["m0"] = {**history.stats["m0"], "Declined": 1}
    history.counters = [VelocityCounter("m0", MINUTE, shard_of(pid(1), 4), 1, {})]
    assert properties(history) == ["velocity_decline"]
    history.counters = [VelocityCounter("m0", MINUTE, s, 1, {}) for s in range(4)]
    assert properties(history) == ["velocity_take_once"]  # 4 takes, 2 legit (1 + 1 canceled)
