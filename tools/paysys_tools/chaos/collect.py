"""Reading the truth after a run, straight from the emulator (no faults): the payments table,
the velocity counters, the queue depth and the outcome subscriber queue; and waiting for
quiescence (queue drained, nothing Pending or in the outbox that the reconciler can still
move), bounded by a guard.
"""

from __future__ import annotations

import asyncio
import json
import time
from decimal import Decimal
from typing import Any

from aiodynamo.client import Client

from paysys.adapters.sqs import SqsQueue
from paysys.core.domain import parse_time
from paysys.core.velocity import VELOCITY_PREFIX
from paysys.runtime.resources import Clients
from paysys_tools.chaos.history import Outcome, Stored, VelocityCounter


async def subscribe_outcomes(clients: Clients, topic_arn: str, name: str) -> SqsQueue:
    """A queue subscribed (raw delivery) to the outcomes topic, as another service would."""
    queue_url = (await clients.sqs.create_queue(QueueName=name))["QueueUrl"]
    attributes = await clients.sqs.get_queue_attributes(
        QueueUrl=queue_url, AttributeNames=["QueueArn"]
    )
    await clients.sns.subscribe(
        TopicArn=topic_arn,
        Protocol="sqs",
        Endpoint=attributes["Attributes"]["QueueArn"],
        Attributes={"RawMessageDelivery": "true"},
    )
    return SqsQueue(clients.sqs, queue_url)


async def scan(client: Client, table: str) -> list[dict[str, Any]]:
    return [item async for item in client.scan(table, consistent_read=True)]


def payments_of(items: list[dict[str, Any]]) -> list[Stored]:
    """The payment items (counters, leases and velocity items have a ``kind``)."""
    return [
        Stored(
            id=i["id"],
            merchant_id=i.get("merchant_id", "default"),
            amount=Decimal(i["amount"]),
            currency=i["currency"],
            description=i.get("description", ""),
            status=i["status"],
            created_at=parse_time(i["created_at"]),
            updated_at=parse_time(i["updated_at"]),
            decline_reason=i.get("decline_reason"),
            in_outbox="outbox_shard" in i,
        )
        for i in items
        if "kind" not in i and "status" in i
    ]


def counters_of(items: list[dict[str, Any]]) -> list[VelocityCounter]:
    found = []
    for i in items:
        if not str(i["id"]).startswith(VELOCITY_PREFIX):
            continue
        merchant, minute, shard = str(i["id"]).removeprefix(VELOCITY_PREFIX).rsplit("#", 2)
        amounts = {k[2:]: Decimal(v) for k, v in i.items() if k.startswith("a_")}
        found.append(VelocityCounter(merchant, minute, int(shard), int(i.get("n", 0)), amounts))
    return found


async def wait_quiescent(
    clients: Clients, table: str, queue_url: str, guard_seconds: float
) -> tuple[bool, list[dict[str, Any]]]:
    """Poll until no payment is Pending or in the outbox and the queue is empty (True), or
    the guard runs out (False); the table's items as last read."""
    queue = SqsQueue(clients.sqs, queue_url)
    deadline = time.monotonic() + guard_seconds
    while True:
        items = await scan(clients.dynamodb, table)
        payments = payments_of(items)
        settled = all(p.final and not p.in_outbox for p in payments)
        if settled and await queue.depth() == (0, 0):
            return True, items
        if time.monotonic() > deadline:
            return False, items
        await asyncio.sleep(1.0)


async def drain(queue: SqsQueue) -> list[Outcome]:
    """Every outcome event in the subscriber queue, until two receives come back empty."""
    found: list[Outcome] = []
    empty = 0
    while empty < 2:
        batch = await queue.receive(10, 1)
        empty = 0 if batch else empty + 1
        for message in batch:
            event = json.loads(message.body)
            found.append(
                Outcome(
                    str(event["payment_id"]),
                    str(event["type"]),
                    str(event["status"]),
                    event.get("decline_reason"),
                )
            )
        await queue.delete(batch)
    return found
