"""The chaos campaign's fault proxy against the emulator, one test per fault kind: a write
failed before commit is not stored, one whose reply is dropped or reset is stored though the
client saw an error, a delayed one succeeds late; and the proxy names every operation."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiodynamo.errors import InternalDynamoError, ProvisionedThroughputExceeded
from botocore.exceptions import ClientError

from paysys.config import Settings
from paysys.ops.provision import Provisioned
from paysys.runtime.resources import Clients, open_clients
from paysys_tools.chaos.faults import Fault, HttpFaults, operation
from paysys_tools.chaos.plan import FaultPlan

from ..backends import Backend


def only(name: str, fault: Fault) -> Any:
    """A rule: ``fault`` for every call of operation ``name``, the rest passes."""
    return lambda request: fault if operation(request) == name else Fault.PASS


@contextlib.asynccontextmanager
async def through(backend: Backend, settings: Settings, rule: Any) -> AsyncIterator[Clients]:
    """Clients (one attempt, a 1 s timeout) that reach the emulator through the proxy."""
    async with HttpFaults(backend.dynamodb, rule, delay_seconds=0.5) as proxy:
        faulted = settings.replace(
            aws_endpoint_url=proxy.url,
            dynamodb_endpoint_url=proxy.url,
            aws_timeout_seconds=1.0,
            aws_max_attempts=1,
            dynamodb_retry_seconds=0.1,
        )
        async with open_clients(faulted) as clients:
            yield clients


async def stored(clients: Clients, table: str, key: str) -> bool:
    return any([i async for i in clients.dynamodb.scan(table) if i["id"] == key])


ITEM = {"id": "chaos-1", "status": "Pending"}


@pytest.mark.usefixtures("provisioned")
@pytest.mark.parametrize(
    ("fault", "error"),
    [(Fault.ERROR, InternalDynamoError), (Fault.THROTTLE, ProvisionedThroughputExceeded)],
)
async def test_fail_before_commit_is_the_services_error_and_nothing_is_stored(
    backend: Backend, settings: Settings, clients: Clients, fault: Fault, error: type[Exception]
) -> None:
    async with through(backend, settings, only("dynamodb:PutItem", fault)) as faulted:
        with pytest.raises(error):
            await faulted.dynamodb.put_item(settings.table_name, ITEM)
    assert not await stored(clients, settings.table_name, ITEM["id"])


@pytest.mark.parametrize(
    ("name", "code"), [("sns:Publish", "Throttling"), ("sqs:SendMessage", "ThrottlingException")]
)
async def test_throttling_reaches_botocore_as_the_services_throttling_code(
    backend: Backend, settings: Settings, provisioned: Provisioned, name: str, code: str
) -> None:
    async with through(backend, settings, only(name, Fault.THROTTLE)) as faulted:
        sent = (
            faulted.sns.publish(TopicArn=provisioned.topic_arn, Message="x")
            if name.startswith("sns")
            else faulted.sqs.send_message(QueueUrl=provisioned.queue_url, MessageBody="x")
        )
        with pytest.raises(ClientError) as raised:
            await sent
    assert raised.value.response["Error"]["Code"] == code


@pytest.mark.parametrize("fault", [Fault.DROP_REPLY, Fault.RESET])
async def test_commit_then_lose_the_reply_is_stored_though_the_client_saw_an_error(
    backend: Backend, settings: Settings, provisioned: Provisioned, clients: Clients, fault: Fault
) -> None:
    async with through(backend, settings, only("dynamodb:PutItem", fault)) as faulted:
        with pytest.raises(Exception):  # noqa: B017, PT011 - a timeout or a reset, as aiodynamo words it
            await faulted.dynamodb.put_item(settings.table_name, ITEM)
    assert await stored(clients, settings.table_name, ITEM["id"])


async def test_a_delay_answers_late_and_right(
    backend: Backend, settings: Settings, provisioned: Provisioned, clients: Clients
) -> None:
    async with through(backend, settings, only("dynamodb:PutItem", Fault.DELAY)) as faulted:
        began = time.monotonic()
        await faulted.dynamodb.put_item(settings.table_name, ITEM)
        assert time.monotonic() - began >= 0.5
    assert await stored(clients, settings.table_name, ITEM["id"])


async def test_the_plan_names_and_counts_every_operation(
    backend: Backend, settings: Settings, provisioned: Provisioned
) -> None:
    plan = FaultPlan(seed=1, rate=0.0)
    async with through(backend, settings, plan) as faulted:
        await faulted.dynamodb.put_item(settings.table_name, ITEM)
        await faulted.sqs.receive_message(QueueUrl=provisioned.queue_url, WaitTimeSeconds=0)
        await faulted.sns.publish(TopicArn=provisioned.topic_arn, Message="x")
    assert set(plan.calls) >= {"dynamodb:PutItem", "sqs:ReceiveMessage", "sns:Publish"}
    assert not plan.injected


def test_one_seed_one_fault_sequence_per_operation() -> None:
    request = b"POST / HTTP/1.1\r\nX-Amz-Target: DynamoDB_20120810.PutItem\r\n\r\n"
    first, again = FaultPlan(7, 0.5), FaultPlan(7, 0.5)
    assert [first(request) for _ in range(50)] == [again(request) for _ in range(50)]
    assert set(first.by_kind()) == {"error", "throttle", "drop_reply", "reset", "delay"}
