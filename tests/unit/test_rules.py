"""The decision rules: pure, table-driven; the one setting's validation; velocity under
concurrent workers (on the fakes: the contract suite pins the fake to the DynamoDB item)."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from paysys.core.currencies import ISO_4217
from paysys.core.domain import NewPayment, Payment, PaymentCreated, PaymentStatus
from paysys.core.limits import VELOCITY_CURRENCIES_MAX
from paysys.core.partition_keys import shard_of
from paysys.core.rules import DeclineReason, Rules, decide, load_rules
from paysys.core.service import Decision
from paysys.core.velocity import Velocity, shares, velocity_window
from paysys.errors import ConfigError
from paysys.worker.options import WorkerStats
from paysys.worker.retries import Retrying

from ..fakes import FakeSystem, Outage

NOW = datetime(2026, 3, 1, 12, 30, 15, tzinfo=UTC)
RULES = load_rules(
    json.dumps(
        {
            "currencies": ["BRL", "USD"],
            "max_amount": {"BRL": "1000.00"},
            "deny_merchants": ["m-fraud"],
        }
    )
)


def event(amount: str = "10.00", currency: str = "BRL", merchant: str = "acme") -> PaymentCreated:
    return PaymentCreated(str(uuid.uuid4()), Decimal(amount), currency, NOW, merchant)


@pytest.mark.parametrize(
    ("payment", "reason"),
    [
        (event(), None),
        (event(currency="USD", amount="999999.99"), None),  # no bound for USD
        (event(currency="EUR"), DeclineReason.CURRENCY_NOT_ALLOWED),
        (event(amount="1000.00"), None),  # the bound itself passes
        (event(amount="1000.01"), DeclineReason.AMOUNT_TOO_LARGE),
        (event(merchant="m-fraud"), DeclineReason.MERCHANT_DENIED),
        (event(merchant="m-fraud", currency="EUR"), DeclineReason.MERCHANT_DENIED),  # first rule
    ],
)
def test_static_rules(payment: PaymentCreated, reason: DeclineReason | None) -> None:
    decision = decide(RULES, payment)
    assert (decision.reason, decision.velocity) == (reason, None)


@pytest.mark.parametrize("currency", ["BRL", "USD", "JPY", "XAU"])
@pytest.mark.parametrize("amount", ["0.01", "12.50", "999999.99"])
def test_the_default_rules_approve_everything_the_api_accepts(currency: str, amount: str) -> None:
    assert load_rules("") == Rules()
    assert decide(Rules(), event(amount, currency)).reason is None
    assert decide(Rules(), event(amount, currency)).velocity is None


def test_a_velocity_window_is_per_merchant_creation_minute_and_shard() -> None:
    rules = load_rules(
        '{"velocity": {"payments_per_minute": 10, "amount_per_minute": {"BRL": "100"}, '
        '"shards": 4}}'
    )
    paid = event(merchant="acme")
    window = decide(rules, paid).velocity
    assert window is not None
    first = window.tries[0].parts[0]
    assert first.key == f"#velocity#acme#2026-03-01T12:30#{shard_of(paid.payment_id, 4)}"
    assert first.count == 1
    assert first.max_count in (2, 3)  # 10 split exactly over 4: 3, 3, 2, 2
    assert first.max_amount == Decimal("25.00")  # 100 over 4
    assert window.expires_at > NOW.timestamp() + 60
    assert len(window.tries) == 4  # its own shard, then the others in its order
    assert len({t.parts[0].key for t in window.tries}) == 4
    assert all(len(t.token) <= 36 for t in window.tries)
    assert len({t.token for t in window.tries}) == 4
    assert decide(rules, paid).velocity == window  # a retry: the same tries, the same tokens
    assert decide(rules, event(currency="USD")).velocity is not None  # a count limit
    over = decide(rules, event(amount="100.01"))  # more than a whole minute allows
    assert over.reason is DeclineReason.VELOCITY_LIMIT


def test_sharded_shares_add_up_to_the_limit_and_a_large_amount_spans_shards() -> None:
    sharded = Velocity(payments_per_minute=10, amount_per_minute={"JPY": Decimal(100)}, shards=3)
    big = PaymentCreated(str(uuid.uuid4()), Decimal(50), "JPY", NOW, "acme")
    window = velocity_window(sharded, big)
    assert window is not None
    spans = [t.parts for t in window.tries]
    assert [len(parts) for parts in spans] == [2, 3, 3]  # the fewest shards, then one more
    for parts in spans:
        assert sum(p.amount for p in parts) == 50  # split at JPY's minor unit (none)
        assert [p.count for p in parts] == [1] + [0] * (len(parts) - 1)  # counted once
        assert all(p.amount <= (p.max_amount or 0) for p in parts)
    caps = {p.key: p.max_amount for parts in spans for p in parts}
    assert sorted(caps.values()) == [33, 33, 34]  # 100 JPY over 3, exactly
    assert sum(shares(10, 3)) == 10


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("{", "not valid JSON"),
        ("[]", "must be a JSON object"),
        ('{"currency": ["BRL"]}', "unknown key 'currency'"),
        ('{"currencies": ["brl"]}', "not ISO 4217 codes: ['brl']"),
        ('{"max_amount": {"BRL": "-1"}}', "max_amount.BRL must be a positive amount"),
        ('{"max_amount": {"BRL": true}}', "max_amount.BRL must be a positive amount"),
        ('{"deny_merchants": "x"}', "deny_merchants must be a list"),
        ('{"velocity": {"payments_per_minute": 0}}', "payments_per_minute must be an integer"),
        ('{"velocity": {"shards": 100}}', "velocity.shards must be an integer from 1 to 64"),
        ("/no/such/rules.json", "cannot read rules file"),
        (
            json.dumps({"velocity": {"amount_per_minute": dict.fromkeys(sorted(ISO_4217), "9")}}),
            f"has {len(ISO_4217)} currencies: at most {VELOCITY_CURRENCIES_MAX}",
        ),
    ],
)
def test_bad_rules_fail_at_start_with_a_clear_error(setting: str, message: str) -> None:
    with pytest.raises(ConfigError, match="PAYSYS_RULES") as error:
        load_rules(setting)
    assert message in str(error.value)


def test_rules_come_from_a_file_too(tmp_path: Path) -> None:
    path = tmp_path / "rules.json"
    path.write_text('{"deny_merchants": ["m-x"]}')
    assert load_rules(str(path)).deny_merchants == {"m-x"}


async def test_the_worker_declines_with_a_reason_and_a_final_state_stays(
    fakes: FakeSystem,
) -> None:
    service = fakes.service(rules=RULES)
    declined, approved = event(currency="EUR"), event()
    for e in (declined, approved):
        await fakes.payments.add(_pending(e))
    assert await service.decide(declined) is Decision.DECLINED
    assert await service.decide(approved) is Decision.APPROVED
    stored = await fakes.payments.get(declined.payment_id)
    assert (stored.status, stored.decline_reason) == (
        PaymentStatus.DECLINED,
        "currency_not_allowed",
    )
    assert stored.to_json()["decline_reason"] == "currency_not_allowed"
    assert await service.decide(declined) is Decision.DUPLICATE  # a redelivery: acknowledged


@pytest.mark.parametrize("shards", [1, 4])
async def test_velocity_holds_under_concurrent_workers(fakes: FakeSystem, shards: int) -> None:
    """8 workers decide 60 payments of one merchant in the same minute at once: exactly the
    limit is approved; the rest velocity_limit."""
    limit = 20
    rules = load_rules(json.dumps({"velocity": {"payments_per_minute": limit, "shards": shards}}))
    events = [event(merchant="hot") for _ in range(60)]
    for e in events:
        await fakes.payments.add(_pending(e))
    workers = [fakes.service(rules=rules) for _ in range(8)]
    queue: asyncio.Queue[PaymentCreated] = asyncio.Queue()
    for e in events:
        queue.put_nowait(e)
    outcomes: list[Decision] = []

    async def work(n: int) -> None:
        while not queue.empty():
            e = queue.get_nowait()
            await asyncio.sleep(0)  # interleave the workers
            outcomes.append(await workers[n].decide(e))

    async with asyncio.TaskGroup() as group:
        for n in range(len(workers)):
            group.create_task(work(n))
    assert outcomes.count(Decision.APPROVED) == limit  # with 4 shards too: each tries all 4
    assert outcomes.count(Decision.DECLINED) == 60 - limit
    reasons = {(await fakes.payments.get(e.payment_id)).decline_reason for e in events}
    assert reasons == {None, "velocity_limit"}
    other = event(merchant="calm")  # another merchant's budget is its own
    await fakes.payments.add(_pending(other))
    assert await workers[0].decide(other) is Decision.APPROVED


def _pending(e: PaymentCreated) -> Payment:
    new = NewPayment(e.amount, e.currency, "")
    return Payment.create(
        new, e.created_at, correlation_id="c", payment_id=e.payment_id, merchant_id=e.merchant_id
    )


async def test_a_decision_retried_after_a_failed_transition_takes_velocity_once(
    fakes: FakeSystem,
) -> None:
    """Issue 20, case 1: the take committed, the transition failed, the worker retried the
    decision in place: the retry meets its own take (approved, the counter shows 1), where
    it used to take again (2 of 2: the merchant's next payment declined)."""
    rules = load_rules('{"velocity": {"payments_per_minute": 2}}')
    only = event(merchant="solo")
    await fakes.payments.add(_pending(only))
    flaky = Outage(fakes.payments, "decide", times=1)
    retrying = Retrying(2, 0.0, asyncio.Event(), WorkerStats())
    service = fakes.service(rules=rules, payments=flaky)
    assert await retrying.run(lambda: service.decide(only, "c", "t-1")) is Decision.APPROVED
    assert flaky.refused  # the first transition did fail
    assert sum(fakes.velocity.counts.values()) == 1
    second = event(merchant="solo")
    await fakes.payments.add(_pending(second))
    assert await service.decide(second) is Decision.APPROVED  # the 2nd of 2 has room
