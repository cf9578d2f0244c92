"""The benchmark's data, written and read straight through the clients: payment items and
their events as paysys stores and publishes them, seeding, feeding the queue, reading back.

These talk to the emulator directly, not through the latency proxy, because they are not
what is measured.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Coroutine, Sequence
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import structlog
from aiodynamo.models import BatchGetRequest, BatchWriteRequest

from paysys.adapters.dynamodb_items import from_item, to_item
from paysys.adapters.sns import message_attributes
from paysys.adapters.sqs import SqsQueue
from paysys.config import Settings
from paysys.core.domain import NewPayment, Payment, PaymentCreated, format_time, utcnow
from paysys.ops.provision import Provisioned
from paysys.runtime.resources import Clients, layout

if TYPE_CHECKING:
    from types_aiobotocore_sqs.type_defs import SendMessageBatchRequestEntryTypeDef

AMOUNT = Decimal("12.50")
CURRENCY = "BRL"
# The API and workers of the bench run with the settings' defaults: the same index layout.
LAYOUT = layout(Settings())
log = structlog.get_logger(__name__)


def stamp(moment: datetime | None = None) -> str:
    return format_time(moment or utcnow())


def new_item() -> dict[str, Any]:
    """A ``Pending`` payment item as paysys stores it (its own item builder: index keys
    included), for a POST without a merchant."""
    new = NewPayment(AMOUNT, CURRENCY, "bench")
    return to_item(Payment.create(new, utcnow(), correlation_id=str(uuid.uuid4())), LAYOUT)


def event_body(item: dict[str, Any]) -> str:
    """The ``PaymentCreated`` message body paysys publishes for ``item``."""
    return PaymentCreated.of(from_item(item)).to_message()


def attributes(item: dict[str, Any]) -> dict[str, Any]:
    """The message attributes paysys publishes ``item``'s event with (no trace context)."""
    return dict(message_attributes(PaymentCreated.of(from_item(item)), item["correlation_id"], {}))


# --- harness -----------------------------------------------------------------------------------


async def seed(clients: Clients, table: str, items: Sequence[dict[str, Any]]) -> None:
    """Store ``items`` with BatchWriteItem (25 a call, a few calls at once)."""
    chunks = [list(items[i : i + 25]) for i in range(0, len(items), 25)]
    gate = asyncio.Semaphore(4)

    async def write(chunk: list[dict[str, Any]]) -> None:
        async with gate:
            while chunk:
                result = await clients.dynamodb.batch_write(
                    {table: BatchWriteRequest(items_to_put=chunk)}
                )
                unput = result.get(table)
                chunk = unput.unput_items if unput else []

    await asyncio.gather(*(write(c) for c in chunks))


async def feed(
    clients: Clients, queue_url: str, items: Sequence[dict[str, Any]], max_depth: int
) -> None:
    """Send the events of ``items`` straight to the queue, never letting more than
    ``max_depth`` wait (moto's SQS slows down with queue depth)."""
    entries: list[SendMessageBatchRequestEntryTypeDef] = [
        {
            "Id": str(i),
            "MessageBody": event_body(item),
            "MessageAttributes": attributes(item),
        }
        for i, item in enumerate(items)
    ]
    sent = 0
    while sent < len(entries):
        visible, _ = await SqsQueue(clients.sqs, queue_url).depth()
        room = min(max_depth - visible, len(entries) - sent)
        if room < min(10, len(entries) - sent):
            await asyncio.sleep(0.05)
            continue
        batches = [entries[sent + i : sent + min(i + 10, room)] for i in range(0, room, 10)]
        await asyncio.gather(
            *(clients.sqs.send_message_batch(QueueUrl=queue_url, Entries=b) for b in batches)
        )
        sent += room


async def wait_drained(clients: Clients, queue_url: str, within_s: float) -> bool:
    """Wait until the queue holds no message, visible or in flight; False after ``within_s``."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if await SqsQueue(clients.sqs, queue_url).depth() == (0, 0):
            return True
        await asyncio.sleep(0.1)
    return False


async def read_items(clients: Clients, table: str, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Read the items back (consistent BatchGetItem, 100 keys a call)."""
    found: dict[str, dict[str, Any]] = {}
    gate = asyncio.Semaphore(4)

    async def get(keys: list[dict[str, Any]]) -> None:
        async with gate:
            while keys:
                response = await clients.dynamodb.batch_get(
                    {table: BatchGetRequest(keys=keys, consistent_read=True)}
                )
                for item in response.items.get(table, []):
                    found[str(item["id"])] = item
                keys = response.unprocessed_keys.get(table, [])

    chunks = [[{"id": i} for i in ids[n : n + 100]] for n in range(0, len(ids), 100)]
    await asyncio.gather(*(get(c) for c in chunks))
    return found


async def remove(clients: Clients, provisioned: Provisioned) -> None:
    """Delete what ``provision`` created for the run (best effort: an attached endpoint such
    as LocalStack or a real account must not collect benchmark resources)."""
    calls: list[Coroutine[Any, Any, Any]] = [
        clients.sns.delete_topic(TopicArn=provisioned.topic_arn),
        clients.sqs.delete_queue(QueueUrl=provisioned.queue_url),
        clients.sqs.delete_queue(QueueUrl=provisioned.dlq_url),
        clients.dynamodb.delete_table(provisioned.table),
        clients.dynamodb.delete_table(provisioned.idempotency_table),
    ]
    for failure in await asyncio.gather(*calls, return_exceptions=True):
        if isinstance(failure, BaseException):
            log.warning("bench.cleanup_failed", error=repr(failure))


FINAL = frozenset(("Approved", "Declined", "Canceled"))


async def until_final(
    harness: Clients, table: str, ids: Sequence[str], settle_seconds: float
) -> dict[str, dict[str, Any]]:
    """Read the items back until all are final, or until ``settle_seconds`` pass without one
    more becoming final (a backlog still draining is not lost: an overloaded emulator can
    take minutes), and at most 20 x ``settle_seconds`` in all."""
    found = await read_items(harness, table, ids)
    missing = [i for i in ids if found.get(i, {}).get("status") not in FINAL]
    started = time.monotonic()
    deadline = started + settle_seconds
    while missing and time.monotonic() < min(deadline, started + 20 * settle_seconds):
        await asyncio.sleep(0.5)
        found.update(await read_items(harness, table, missing))
        still = [i for i in missing if found.get(i, {}).get("status") not in FINAL]
        if len(still) < len(missing):
            deadline = time.monotonic() + settle_seconds  # progress: keep waiting
        missing = still
    return found
