"""A velocity take whose reply is lost, on the emulator through the fault proxy (issue 20,
case 1): the retry (aiodynamo's own, or the worker's in-place one) re-sends the same
transaction token and meets its own success: approved, the merchant's counter shows 1."""

from __future__ import annotations

import asyncio
import dataclasses
from decimal import Decimal

import pytest

from paysys.config import Settings
from paysys.core.domain import NewPayment, PaymentCreated
from paysys.core.rules import load_rules
from paysys.core.service import Decision
from paysys.runtime.resources import Resources, open_resources
from paysys.worker.options import WorkerStats
from paysys.worker.retries import Retrying

from ..backends import Backend
from ..http_faults import Fault, HttpFaults, dynamodb_operation

RULES = load_rules('{"velocity": {"payments_per_minute": 2}}')


def first_take(fault: Fault) -> object:
    armed = [True]

    def rule(request: bytes) -> Fault:
        if armed[0] and dynamodb_operation(request) == "TransactWriteItems":
            armed[0] = False
            return fault
        return Fault.PASS

    return rule


@pytest.mark.parametrize("fault", [Fault.DROP_REPLY, Fault.RESET])
async def test_a_take_whose_reply_is_lost_is_taken_once(
    settings: Settings, resources: Resources, backend: Backend, fault: Fault
) -> None:
    accepted = await resources.service.create(NewPayment(Decimal("12.50"), "BRL", "v"), "c-v")
    payment = await resources.service.get(accepted.payment_id)
    event = PaymentCreated.of(payment)
    faulted = settings.replace(aws_timeout_seconds=1.0, dynamodb_retry_seconds=3.0)
    async with HttpFaults(backend.dynamodb, first_take(fault)) as proxy:  # type: ignore[arg-type]
        async with open_resources(faulted.replace(dynamodb_endpoint_url=proxy.url)) as opened:
            service = dataclasses.replace(opened.service, rules=RULES)
            retrying = Retrying(2, 0.1, asyncio.Event(), WorkerStats())
            decided = await retrying.run(lambda: service.decide(event, "c-v", "t-v"))
        assert proxy.seen[fault] == 1  # the first take committed, its reply was lost
    assert decided is Decision.APPROVED
    counters = [
        item
        async for item in resources.clients.dynamodb.scan(settings.table_name)
        if str(item["id"]).startswith("#velocity#")
    ]
    assert [int(c["n"]) for c in counters] == [1]
