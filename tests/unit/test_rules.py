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

from paysys.core.domain import NewPayment, Payment, PaymentCreated, PaymentStatus
from paysys.core.rules import DeclineReason, Rules, decide, load_rules
from paysys.core.service import Decision
from paysys.errors import ConfigError

from ..fakes import FakeSystem

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
    decision = decide(RULES, payment, NOW)
    assert (decision.reason, decision.velocity) == (reason, None)


@pytest.mark.parametrize("currency", ["BRL", "USD", "JPY", "XAU"])
@pytest.mark.parametrize("amount", ["0.01", "12.50", "999999.99"])
def test_the_default_rules_approve_everything_the_api_accepts(currency: str, amount: str) -> None:
    assert load_rules("") == Rules()
    assert decide(Rules(), event(amount, currency), NOW).reason is None
    assert decide(Rules(), event(amount, currency), NOW).velocity is None


def test_a_velocity_window_is_per_merchant_minute_and_shard() -> None:
    rules = load_rules(
        '{"velocity": {"payments_per_minute": 10, "amount_per_minute": {"BRL": "100"}, '
        '"shards": 4}}'
    )
    window = decide(rules, event(merchant="acme"), NOW).velocity
    assert window is not None
    assert window.key.startswith("#velocity#acme#2026-03-01T12:30#")
    assert (window.max_count, window.max_amount) == (3, Decimal("25.00"))  # ceil(10/4), 100/4
    assert window.expires_at > NOW.timestamp() + 60
    assert decide(rules, event(currency="USD"), NOW).velocity is not None  # a count limit
    over = decide(rules, event(amount="25.01"), NOW)  # more than a whole window allows
    assert over.reason is DeclineReason.VELOCITY_LIMIT


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
    limit is approved (one shard), at most the limit with shards; the rest velocity_limit."""
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
    approved = outcomes.count(Decision.APPROVED)
    assert approved == limit if shards == 1 else approved <= limit + shards
    assert approved + outcomes.count(Decision.DECLINED) == 60
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
