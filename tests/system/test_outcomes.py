"""Outcome events end to end, through real role processes and the emulator: a subscriber
queue on the outcomes topic receives one outcome per payment (approved, declined, canceled),
and still none is missing after an SNS outage window during which workers made transitions
(the outbox and the reconciler publish them later; duplicates are allowed and counted)."""

from __future__ import annotations

import asyncio
import importlib.resources
import json
from collections import Counter
from typing import Any

import aiohttp
import jsonschema

from paysys.adapters.sqs import SqsQueue
from paysys.runtime.resources import Clients
from paysys_tools.chaos.collect import subscribe_outcomes
from paysys_tools.worker_log import parse_worker_log

from ..backends import Backend
from ..client import call, create
from ..conftest import fresh_settings
from ..faults import FaultProxy
from .test_faults import System, system_for

SCHEMA = json.loads(
    (importlib.resources.files("paysys.core") / "schemas/payment_outcome.v1.json").read_text()
)
TYPES = {
    "Approved": "PaymentApproved",
    "Declined": "PaymentDeclined",
    "Canceled": "PaymentCanceled",
}


async def subscriber(clients: Clients, topic_name: str, name: str) -> SqsQueue:
    """A queue subscribed (raw delivery) to the outcomes topic, as another service would."""
    topic_arn = (await clients.sns.create_topic(Name=topic_name))["TopicArn"]
    return await subscribe_outcomes(clients, topic_arn, name)


async def post(system: System, http: aiohttp.ClientSession, currency: str) -> str:
    return await create(http, system.base, {"amount": "4.00", "currency": currency})


async def collect(queue: SqsQueue, ids: set[str], guard_seconds: float = 60) -> list[Any]:
    """Receive until every payment has an outcome (then a little more, for duplicates)."""
    messages: list[Any] = []
    async with asyncio.timeout(guard_seconds):
        while {json.loads(m.body)["payment_id"] for m in messages} < ids:
            batch = await queue.receive(10, 1)
            messages += batch
            await queue.delete(batch)
    messages += await queue.receive(10, 1)
    return messages


async def test_one_outcome_per_payment_even_after_an_sns_outage(backend: Backend) -> None:
    window = 2
    async with FaultProxy(backend.aws) as proxy:
        settings = fresh_settings(
            backend,
            reconcile_after_seconds=window,
            reconcile_interval_seconds=0.5,
            rules='{"currencies": ["BRL"]}',
        )
        async with system_for(settings) as system:
            outcomes = await subscriber(
                system.clients, settings.outcomes_topic_name, f"{settings.queue_name}-sub"
            )
            await system.start_api()
            async with aiohttp.ClientSession() as http:
                # Canceled before any worker runs: its late PaymentCreated is acknowledged.
                canceled = [await post(system, http, "BRL") for _ in range(3)]
                for payment_id in canceled:
                    url = f"{system.base}/payments/{payment_id}/cancel"
                    assert (await call(http, "POST", url))[0] == 202
                for _ in range(2):  # the workers reach SNS through the proxy
                    await system.start_worker(sns_endpoint_url=proxy.url)
                before = [await post(system, http, c) for c in ("BRL", "EUR") * 4]
                await system.wait_final(len(canceled) + len(before))
                proxy.down()
                during = [await post(system, http, c) for c in ("BRL", "EUR") * 5]
                await system.wait_final(len(canceled) + len(before) + len(during))
                await asyncio.sleep(window * 2)  # the outage outlasts a reconcile window
                proxy.restore()
                ids = canceled + before + during
                messages = await collect(outcomes, set(ids))
                stored = {}
                for payment_id in ids:
                    _, stored[payment_id] = await call(
                        http, "GET", f"{system.base}/payments/{payment_id}"
                    )
            for worker in list(system.workers):
                assert await system.stop_worker(worker) == 0

    events = [json.loads(m.body) for m in messages]
    for message, event in zip(messages, events, strict=True):
        jsonschema.validate(event, SCHEMA, format_checker=jsonschema.FormatChecker())
        assert message.attributes["event_type"] == event["type"]
        assert message.attributes["merchant_id"] == event["merchant_id"]
    per_payment = Counter(e["payment_id"] for e in events)
    assert set(per_payment) == set(ids)  # none missing
    duplicates = sum(per_payment.values()) - len(ids)  # allowed: at least once
    assert 0 <= duplicates <= len(during)
    # The events agree with the stored state: one final state per payment.
    for event in events:
        assert TYPES[stored[event["payment_id"]]["status"]] == event["type"]
    kinds = Counter(stored[i]["status"] for i in ids)
    assert kinds == Counter({"Approved": 9, "Declined": 9, "Canceled": 3})
    assert all(stored[i]["decline_reason"] == "currency_not_allowed" for i in before[1::2])
    assert '"outcome.publish_deferred"' in "".join(system.worker_logs)
    assert '"outcome.republished"' in "".join(system.worker_logs)


async def test_cancel_racing_approval_ends_in_one_final_state_the_events_agree(
    backend: Backend,
) -> None:
    settings = fresh_settings(backend, reconcile_after_seconds=2, reconcile_interval_seconds=0.5)
    async with system_for(settings) as system:
        outcomes = await subscriber(
            system.clients, settings.outcomes_topic_name, f"{settings.queue_name}-sub"
        )
        await system.start_api()
        for _ in range(2):
            await system.start_worker()
        async with aiohttp.ClientSession() as http:

            async def post_and_cancel(i: int) -> tuple[str, str]:
                payment_id = await post(system, http, "BRL")
                await asyncio.sleep(0.01 * (i % 5))  # some before, some after the worker
                url = f"{system.base}/payments/{payment_id}/cancel"
                status, body = await call(http, "POST", url)
                assert status in {202, 409}, body
                # 202: canceled (by it, or already: a retried cancel whose first try
                # committed); 409 says what it already was (Approved or Declined)
                return payment_id, body["status"] if status == 202 else body["error"]["status"]

            answers = dict(await asyncio.gather(*(post_and_cancel(i) for i in range(40))))
            await system.wait_final(len(answers))
            messages = await collect(outcomes, set(answers))
            stored = {}
            for payment_id in answers:
                _, body = await call(http, "GET", f"{system.base}/payments/{payment_id}")
                stored[payment_id] = body["status"]
        for worker in list(system.workers):
            assert await system.stop_worker(worker) == 0
    assert set(answers.values()) <= {"Canceled", "Approved"}
    for payment_id, status in answers.items():  # the API's answer is the stored truth
        assert stored[payment_id] == status
    types = {(json.loads(m.body)["payment_id"], json.loads(m.body)["type"]) for m in messages}
    assert types == {(i, TYPES[s]) for i, s in stored.items()}  # one kind per payment, agreeing
    assert set(Counter(stored.values())) <= {"Canceled", "Approved"}
    finals = Counter[str]()
    for log in system.worker_logs:
        finals.update(parse_worker_log(log.splitlines()).finals)
    assert all(n == 1 for n in finals.values())
    assert not set(finals) & {i for i, s in stored.items() if s == "Canceled"}
